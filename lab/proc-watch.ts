/**
 * Watching a server process from outside for load tests: its memory from
 * /proc (resident set and its high-water mark) and its Prometheus metrics.
 */
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { LabHost } from './netns.ts';

/** Resident memory of a process, KiB: now, and the peak since start or the last `resetPeak`. */
export interface ProcMemory {
  rssKiB: number;
  hwmKiB: number;
}

/** Read VmRSS and VmHWM of `pid` from /proc/<pid>/status. */
export function procMemory(pid: number): ProcMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

/** Reset the VmHWM of `pid` to its current RSS (proc(5), clear_refs "5"), so a phase's peak is its own. */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/**
 * The process a spawned command became: `ip netns exec` and bin/imgsrv both
 * exec, so normally `pid` itself; otherwise the first descendant running the
 * executable named `exe` (by path: Node 24 renames its main thread "MainThread").
 */
export function findProcess(pid: number, exe: string): number {
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    try {
      if (basename(readlinkSync(`/proc/${p}/exe`)) === exe) return p;
      queue.push(...readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number));
    } catch {
      /* gone meanwhile */
    }
  }
  throw new Error(`no process running ${exe} at or under pid ${pid}`);
}

/** Sample VmRSS every `everyMs` until stopped; resolves the largest sample (KiB). */
export function sampleRss(pid: number, everyMs = 100): { stop(): number } {
  let peak = procMemory(pid).rssKiB;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, procMemory(pid).rssKiB);
    } catch {
      /* the process exited: keep what we saw */
    }
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

/** Scrape a Prometheus text endpoint from inside `host`: `name{labels}` → value. */
export async function scrapeMetrics(host: LabHost, url: string): Promise<Map<string, number>> {
  const text = await host.exec('curl', ['-sf', '--max-time', '30', url]);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Sum of every series of `name` whose labels contain `labels` (e.g. 'result="failed"'). */
export function metricSum(m: Map<string, number>, name: string, labels = ''): number {
  let sum = 0;
  for (const [k, v] of m) if ((k === name || k.startsWith(`${name}{`)) && k.includes(labels)) sum += v;
  return sum;
}

/** Percentile (0..1) of a list by nearest rank; 0 for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.max(0, Math.min(s.length - 1, Math.ceil(p * s.length) - 1))]! : 0;
}

/** MiB with one decimal, from KiB or bytes. */
export const mibFromKiB = (kib: number): number => Math.round((kib / 1024) * 10) / 10;
export const mibFromBytes = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;

/** The kernel's UDP counters in `host`'s namespace (/proc/net/snmp): RcvbufErrors are datagrams dropped on a full socket queue. */
export async function udpCounters(host: LabHost): Promise<Record<string, number>> {
  const rows = (await host.exec('cat', ['/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, values] = rows.map((r) => r.split(/\s+/).slice(1));
  return Object.fromEntries((names ?? []).map((n, i) => [n, Number(values?.[i] ?? NaN)]));
}
