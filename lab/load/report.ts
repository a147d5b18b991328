/**
 * Judging and reporting a load run (load-dhcp.ts, load-tftp.ts), shared by
 * the lab test (which asserts there are no problems) and bench/load.ts:
 * one printable line per figure, the same figures as JSON, and the list of
 * what went wrong (lost or duplicate leases, stalls, memory past its bound).
 */
import { ipToInt } from '../../netboot/dhcp/options.ts';
import type { DhcpLoadReport } from './dhcp.ts';
import type { TftpLoadReport } from './tftp.ts';
import { mibFromBytes, mibFromKiB, percentile } from '../proc-watch.ts';

/** Printable lines, JSON figures, and problems (empty when all is well). */
export interface Findings {
  lines: string[];
  json: Record<string, unknown>;
  problems: string[];
}

const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Judge a DHCP run: every client bound in every round, in the pool, no address twice, the same one each round, the lease table exactly that. */
export function dhcpFindings(r: DhcpLoadReport, o: { clients: number; udhcpc: number; range: { first: string; last: string } }): Findings {
  const lines: string[] = [];
  const problems: string[] = [];
  const inRange = (ip: string): boolean => ipToInt(ip) >= ipToInt(o.range.first) && ipToInt(ip) <= ipToInt(o.range.last);
  const first = r.rounds[0];
  for (const round of r.rounds) {
    const { herd, server: c } = round;
    const bad = (what: string): number => problems.push(`${round.name}: ${what}`);
    const missing = Object.entries(round.udhcpc).filter(([, ip]) => ip === null).map(([mac]) => mac);
    lines.push(
      `dhcp ${round.name}: ${herd.done}/${o.clients} herd clients bound in ${sec(herd.totalMs)} (p50 ${Math.round(herd.p50Ms)} ms, p99 ${Math.round(herd.p99Ms)} ms), ` +
        `${herd.retransmits} retransmits, ${herd.naks} NAKs, ${herd.conflicts} conflicting offers; udhcpc ${o.udhcpc - missing.length}/${o.udhcpc} in ≤ ${sec(round.udhcpcMaxMs)}; ` +
        `server received ${c.received}, sent ${c.sent}, dropped ${c.dropped}, exhausted ${c.exhausted}, kernel queue drops ${c.kernelDrops}; RSS ${mibFromKiB(round.memory.rssKiB)} MiB, heap ${mibFromBytes(round.heapUsedBytes)} MiB`,
    );
    if (herd.done !== o.clients) bad(`${o.clients - herd.done} herd clients without a lease`);
    if (herd.bootfiles !== herd.done) bad(`${herd.done - herd.bootfiles} ACKs without a boot file`);
    if (missing.length) bad(`udhcpc without a lease: ${missing.join(' ')}`);
    if (herd.conflicts) bad(`${herd.conflicts} offers of an address held by another client`);
    if (c.naks || c.dropped || c.exhausted) bad(`server sent ${c.naks} NAKs, dropped ${c.dropped}, found the pool exhausted ${c.exhausted} times`);
    const got: Record<string, string> = { ...herd.leases };
    for (const [mac, ip] of Object.entries(round.udhcpc)) if (ip) got[mac] = ip;
    const ips = Object.values(got);
    if (new Set(ips).size !== ips.length) bad(`${ips.length - new Set(ips).size} addresses given to two clients`);
    const outside = ips.filter((ip) => !inRange(ip));
    if (outside.length) bad(`addresses outside the pool: ${outside.slice(0, 5).join(' ')}`);
    // The lease table must hold exactly the bindings the clients got: nothing left 'offered', nothing extra.
    const stray = round.leases.filter((l) => l.state !== 'bound' || got[l.mac] !== l.ip);
    if (stray.length) bad(`${stray.length} lease rows that no client holds, e.g. ${JSON.stringify(stray[0])}`);
    const table = new Map(round.leases.map((l) => [l.mac, l.ip]));
    const unrecorded = Object.entries(got).filter(([mac, ip]) => table.get(mac) !== ip);
    if (unrecorded.length) bad(`${unrecorded.length} bindings missing from the lease table, e.g. ${unrecorded[0]!.join(' → ')}`);
    if (first && round !== first) {
      const moved = Object.entries(got).filter(([mac, ip]) => (first.herd.leases[mac] ?? first.udhcpc[mac]) !== ip);
      if (moved.length) bad(`${moved.length} clients got another address than in the first round, e.g. ${moved[0]!.join(' → ')}`);
    }
  }
  const last = r.rounds.at(-1);
  if (last) {
    lines.push(
      `dhcp server memory: RSS ${mibFromKiB(r.before.rssKiB)} MiB before, ${mibFromKiB(last.memory.rssKiB)} MiB after ${r.rounds.length} rounds ` +
        `(peak ${mibFromKiB(last.memory.hwmKiB)} MiB); heap ${mibFromBytes(r.heapBeforeBytes)} → ${mibFromBytes(last.heapUsedBytes)} MiB`,
    );
  }
  const json = {
    clients: o.clients,
    udhcpc: o.udhcpc,
    server: 'imgsrv serve --dhcp full (SQLite lease store, log level info)',
    rounds: r.rounds.map(({ name, herd, memory, heapUsedBytes, server, udhcpcMaxMs }) => ({
      name,
      done: herd.done,
      totalMs: Math.round(herd.totalMs),
      p50Ms: Math.round(herd.p50Ms),
      p99Ms: Math.round(herd.p99Ms),
      retransmits: herd.retransmits,
      naks: herd.naks,
      conflicts: herd.conflicts,
      udhcpcMaxMs: Math.round(udhcpcMaxMs),
      server,
      rssMiB: mibFromKiB(memory.rssKiB),
      heapMiB: mibFromBytes(heapUsedBytes),
    })),
    rssBeforeMiB: mibFromKiB(r.before.rssKiB),
    rssAfterMiB: last ? mibFromKiB(last.memory.rssKiB) : null,
    rssPeakMiB: last ? mibFromKiB(last.memory.hwmKiB) : null,
    heapBeforeMiB: mibFromBytes(r.heapBeforeBytes),
    heapAfterMiB: last ? mibFromBytes(last.heapUsedBytes) : null,
  };
  return { lines, json, problems };
}

/**
 * Judge a TFTP run: every transfer complete with the file's sha256, most of
 * them in flight together, and the server's peak RSS growth under half of
 * what buffering one whole file per transfer would cost. A streaming server
 * holds two 64 KiB chunks per transfer, but the chunks it has sent are
 * garbage that V8 collects late, so RSS growth varies with the pace of the
 * run: 14–81 MiB for 200 transfers of 1.5 MiB in CI runs. A server made to
 * keep every chunk grew 226 MiB; the bound (150 MiB) sits between.
 */
export function tftpFindings(r: TftpLoadReport, o: { transfers: number; fileBytes: number }): Findings {
  const problems: string[] = [];
  const ms = r.transfers.map((t) => t.endedAt - t.startedAt);
  const growthKiB = r.peakKiB - r.before.rssKiB;
  const boundKiB = (o.transfers * o.fileBytes) / 2 / 1024;
  const failed = r.transfers.filter((t) => !t.ok || t.sha256 !== r.sha256 || t.bytes !== o.fileBytes);
  const name = (t: TftpLoadReport['transfers'][number]): string => `${t.client}${t.blksize ? ` blksize ${t.blksize}` : ''}${t.windowsize ? ` windowsize ${t.windowsize}` : ''}`;
  const byClient = Object.entries(Object.groupBy(r.transfers, name)).map(([k, ts]) => ({
    client: k,
    transfers: ts!.length,
    maxMs: Math.max(...ts!.map((t) => t.endedAt - t.startedAt)),
  }));
  for (const t of failed.slice(0, 10)) problems.push(`${name(t)}: ${t.error ?? `${t.bytes} bytes, sha256 ${t.sha256}`}`);
  if (failed.length > 10) problems.push(`… ${failed.length - 10} more failed transfers`);
  if (r.transfers.length !== o.transfers) problems.push(`${r.transfers.length} transfers reported, ${o.transfers} started`);
  if (r.serverFailed) problems.push(`the server counted ${r.serverFailed} failed transfers`);
  if (r.maxConcurrent < o.transfers / 2) problems.push(`only ${r.maxConcurrent} transfers ran at once`);
  if (growthKiB >= boundKiB) problems.push(`server RSS grew ${mibFromKiB(growthKiB)} MiB, bound ${mibFromKiB(boundKiB)} MiB: does it buffer whole files?`);
  const perTransferKiB = Math.round(growthKiB / Math.max(1, r.maxConcurrent));
  const lines = [
    `tftp: ${r.transfers.length - failed.length}/${o.transfers} transfers of ${mibFromBytes(o.fileBytes)} MiB complete with identical sha256, ${r.maxConcurrent} in flight at once, all done in ${sec(r.wallMs)}`,
    `tftp durations: p50 ${sec(percentile(ms, 0.5))}, p99 ${sec(percentile(ms, 0.99))}, max ${sec(Math.max(0, ...ms))} (${byClient.map((b) => `${b.client} ×${b.transfers} max ${sec(b.maxMs)}`).join(', ')})`,
    `tftp server memory: RSS ${mibFromKiB(r.before.rssKiB)} MiB before, peak ${mibFromKiB(r.peakKiB)} MiB, ${mibFromKiB(r.after.rssKiB)} MiB after; ` +
      `peak growth ${mibFromKiB(growthKiB)} MiB = ${perTransferKiB} KiB per concurrent transfer (file ${mibFromBytes(o.fileBytes)} MiB; bound ${mibFromKiB(boundKiB)} MiB); ` +
      `heap ${mibFromBytes(r.heapBeforeBytes)} → ${mibFromBytes(r.heapAfterBytes)} MiB`,
    `tftp server counters: ${r.serverRetransmits} DATA retransmissions, ${r.serverFailed} failed transfers, ${r.kernelDrops} datagrams dropped on full socket queues`,
  ];
  const json = {
    transfers: o.transfers,
    fileBytes: o.fileBytes,
    completed: r.transfers.length - failed.length,
    maxConcurrent: r.maxConcurrent,
    wallMs: r.wallMs,
    durationMs: { p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), max: Math.max(0, ...ms) },
    clients: byClient,
    rssBeforeMiB: mibFromKiB(r.before.rssKiB),
    rssPeakMiB: mibFromKiB(r.peakKiB),
    rssAfterMiB: mibFromKiB(r.after.rssKiB),
    peakGrowthMiB: mibFromKiB(growthKiB),
    peakGrowthPerTransferKiB: perTransferKiB,
    boundMiB: mibFromKiB(boundKiB),
    heapBeforeMiB: mibFromBytes(r.heapBeforeBytes),
    heapAfterMiB: mibFromBytes(r.heapAfterBytes),
    serverRetransmits: r.serverRetransmits,
    serverFailed: r.serverFailed,
    kernelDrops: r.kernelDrops,
  };
  return { lines, json, problems };
}
