import { describe, expect, it } from 'vitest';
import { errorOf } from '../../../core/testdata/errors.ts';
import { nodePatch } from './nodes.ts';

describe('nodes set flags', () => {
  it('sends only the fields given, "-" = null', () => {
    expect(nodePatch({ hostname: 'web1' })).toEqual({ hostname: 'web1' });
    expect(nodePatch({ hostname: '-', group: 'web', image: '-' })).toEqual({ hostname: null, group: 'web', image: null });
  });
  it('nothing to set is bad usage', () => {
    expect(errorOf(() => nodePatch({})).exitCode).toBe(2);
  });
});
