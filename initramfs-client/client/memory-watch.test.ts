import { describe, expect, it } from 'vitest';
import { memoryLine, tmpfsUsed } from './memory-watch.ts';

describe('memory watch', () => {
  it('adds up what the tmpfs mounts hold, and nothing else', () => {
    const mounts = ['rootfs / rootfs rw 0 0', 'tmpfs /run tmpfs rw,mode=755 0 0', 'devtmpfs /dev devtmpfs rw 0 0', 'tmpfs /mnt/my\\040dir tmpfs rw 0 0', '/dev/vda3 /mnt/target ext4 rw 0 0'].join('\n');
    const seen: string[] = [];
    const used = tmpfsUsed(mounts, (p) => {
      seen.push(p);
      return { blocks: 100, bfree: 40, bsize: 4096 };
    });
    expect(seen).toEqual(['/run', '/mnt/my dir']);
    expect(used).toBe(2 * 60 * 4096);
  });

  it('prints the peak as the lab tests read it', () => {
    expect(memoryLine({ rss: 180 * 2 ** 20, tmpfs: 2 ** 19 })).toBe('memory: peak RSS 180.0 MiB + tmpfs 0.5 MiB = 180.5 MiB');
  });
});
