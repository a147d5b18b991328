/**
 * What a deployment costs the node in memory: the client's peak resident
 * set (the kernel's own high-water mark) plus the peak of what sits in its
 * tmpfs mounts (/run: the torrent file, logs, and the image itself when it
 * has no scratch area on the disk). The netboot environment has nothing
 * else that grows; the page cache the restore writes through is the
 * kernel's to reclaim and is not counted.
 */
import { statfsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** Peak figures in bytes. */
export interface MemoryPeak {
  rss: number;
  tmpfs: number;
}

/** Bytes in use on every tmpfs mount in `mounts` (/proc/mounts format). */
export function tmpfsUsed(mounts: string, statfs: (path: string) => { blocks: number; bfree: number; bsize: number } = statfsSync): number {
  let used = 0;
  for (const line of mounts.split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type !== 'tmpfs' || !dir) continue;
    try {
      const s = statfs(dir.replace(/\\040/g, ' '));
      used += (s.blocks - s.bfree) * s.bsize;
    } catch {
      // gone since /proc/mounts was read
    }
  }
  return used;
}

/** Sample tmpfs use every `everyMs` until stopped; `peak()` adds the process's peak RSS. */
export function watchMemory(everyMs = 1000): { peak(): MemoryPeak; stop(): void } {
  let tmpfs = 0;
  const sample = async (): Promise<void> => {
    const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
    tmpfs = Math.max(tmpfs, tmpfsUsed(mounts));
  };
  void sample();
  const timer = setInterval(() => void sample(), everyMs);
  timer.unref();
  return {
    // resourceUsage().maxRSS is in kilobytes (getrusage ru_maxrss).
    peak: () => ({ rss: process.resourceUsage().maxRSS * 1024, tmpfs }),
    stop: () => clearInterval(timer),
  };
}

/** One console line for people and tests: "memory: peak RSS 180.2 MiB + tmpfs 0.3 MiB = 180.5 MiB". */
export function memoryLine(p: MemoryPeak): string {
  const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
  return `memory: peak RSS ${mib(p.rss)} MiB + tmpfs ${mib(p.tmpfs)} MiB = ${mib(p.rss + p.tmpfs)} MiB`;
}
