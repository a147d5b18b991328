import { describe, expect, it } from 'vitest';
import { errorOf } from '../../../core/testdata/errors.ts';
import { groupName, groupPatch } from './groups.ts';

describe('groups set flags', () => {
  it('sends only the fields given', () => {
    expect(groupPatch({})).toEqual({});
    expect(groupPatch({ kernelArgs: true })).toEqual({}); // commander's default when --no-kernel-args is absent
    expect(groupPatch({ image: 'web@3', hostnamePattern: 'web{n}', keep: '/data, /srv,', targetDisk: 'nvme0n1', promptTimeout: '30' })).toEqual({
      image: 'web@3',
      hostnamePattern: 'web{n}',
      keep: ['/data', '/srv'],
      targetDisk: 'nvme0n1',
      promptTimeout: 30,
    });
  });

  it('"-" clears a field to null (the global setting applies)', () => {
    expect(groupPatch({ image: '-', hostnamePattern: '-', keep: '-', targetDisk: '-', promptTimeout: '-' })).toEqual({
      image: null,
      hostnamePattern: null,
      keep: null,
      targetDisk: null,
      promptTimeout: null,
    });
  });

  it('kernel arguments: repeated --kernel-arg replaces the list, --no-kernel-args empties it, both is bad usage', () => {
    expect(groupPatch({ kernelArg: ['console=ttyS0', 'quiet'], kernelArgs: true })).toEqual({ kernelArgs: ['console=ttyS0', 'quiet'] });
    expect(groupPatch({ kernelArgs: false })).toEqual({ kernelArgs: [] });
    expect(errorOf(() => groupPatch({ kernelArg: ['quiet'], kernelArgs: false })).code).toBe('BAD_USAGE');
  });

  it('refuses a prompt timeout that is not whole seconds', () => {
    expect(errorOf(() => groupPatch({ promptTimeout: '1.5' })).message).toMatch(/--prompt-timeout "1.5" is not a number of seconds/);
  });

  it('checks group names like the server', () => {
    expect(groupName('web-1.a_b')).toBe('web-1.a_b');
    for (const bad of ['Web', '-web', 'a/b', '', 'x'.repeat(64)]) expect(errorOf(() => groupName(bad)).code).toBe('BAD_USAGE');
  });
});
