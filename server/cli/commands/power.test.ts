import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../client.ts';
import { targetMacs } from './power.ts';

const api = {
  request: async () => [
    { mac: 'aa:bb:cc:dd:ee:01', group: 'rack1' },
    { mac: 'aa:bb:cc:dd:ee:02', group: 'rack2' },
    { mac: 'aa:bb:cc:dd:ee:03', group: 'rack1' },
  ],
} as unknown as ApiClient;

describe('power targets', () => {
  it('takes MACs, or every node of a group, never both or neither', async () => {
    expect(await targetMacs(api, ['aa:bb:cc:dd:ee:09'], undefined)).toEqual(['aa:bb:cc:dd:ee:09']);
    expect(await targetMacs(api, [], 'rack1')).toEqual(['aa:bb:cc:dd:ee:01', 'aa:bb:cc:dd:ee:03']);
    await expect(targetMacs(api, [], undefined)).rejects.toMatchObject({ code: 'BAD_USAGE' });
    await expect(targetMacs(api, ['aa:bb:cc:dd:ee:01'], 'rack1')).rejects.toMatchObject({ code: 'BAD_USAGE' });
    await expect(targetMacs(api, [], 'rack9')).rejects.toThrow(/group rack9 has no nodes/);
  });
});
