/**
 * CPU accounting for the swarm benchmark. The machine is shared (other
 * work runs beside the bench), so besides the machine-wide busy share we
 * count the CPU seconds of our own processes: the node clients, the
 * server, the udpcast sender, the bench process (which hashes the
 * baselines' streams). That says whether a run was limited by the links or
 * by the 2 cores that 16 simulated nodes share.
 */
import { readFileSync } from 'node:fs';

/** Machine-wide CPU counters from /proc/stat (namespaces share the CPUs). */
export interface CpuSample {
  busy: number;
  total: number;
}

/** Read the aggregate `cpu` line of /proc/stat. */
export function cpuSample(): CpuSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Share of all CPUs busy between two samples, 0..1. */
export const cpuBusy = (a: CpuSample, b: CpuSample): number => (b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0);

// Clock ticks per second of /proc/<pid>/stat times: USER_HZ, 100 on every Linux architecture we run on.
const USER_HZ = 100;

/**
 * CPU seconds used by process `pid` and its reaped children (utime, stime,
 * cutime, cstime of /proc/<pid>/stat); 0 when it is gone. `ip netns exec`
 * execs its command, so a lab child's pid is the command's own.
 */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at state, field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return ((f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0)) / USER_HZ;
  } catch {
    return 0;
  }
}
