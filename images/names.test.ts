import { describe, expect, it } from 'vitest';
import { isVersionDir, nextVersion, parseImageRef, validateImageName } from './names.ts';

describe('image names', () => {
  it('accepts what can name a directory and nothing else', () => {
    expect(validateImageName('sample')).toBe('sample');
    for (const bad of ['../x', '.hidden', 'a/b', 'A', '', 'x'.repeat(64), 'a..b']) expect(() => validateImageName(bad), bad).toThrow(/not a valid image name/);
  });

  it('parses NAME and NAME@VERSION', () => {
    expect(parseImageRef('web@3')).toEqual({ name: 'web', version: 3 });
    expect(parseImageRef('web')).toEqual({ name: 'web', version: undefined });
    expect(() => parseImageRef('web@0')).toThrow('start at 1');
    expect(() => parseImageRef('web', { requireVersion: true })).toThrow('names no version');
    expect(() => parseImageRef('../x@1')).toThrow('not an image reference');
  });

  it('numbers versions past every one published', () => {
    expect(isVersionDir('12')).toBe(true);
    expect(isVersionDir('012')).toBe(false);
    expect(nextVersion([1, 3], 5)).toBe(6);
    expect(nextVersion([])).toBe(1);
  });
});
