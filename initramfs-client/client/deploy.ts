/**
 * One deployment on the node: the image's signature is checked first (when
 * the node trusts signing keys), then the hostname question runs alongside the
 * download and the disk work (the operator types while bytes arrive), the
 * swarm feeds the restore in order, progress goes to the console and the
 * server, and once the disk is bootable the node seeds for the others
 * until the server says the deployment is complete or the linger time ends.
 */
import { mkdir } from 'node:fs/promises';
import type { Logger } from '../../core/log.ts';
import { ImgsrvError } from '../../core/errors.ts';
import { formatBytes, formatRate } from '../../core/format.ts';
import type { Runner } from '../restore/run.ts';
import { SwarmDownload, type SwarmStats } from '../../torrent/download.ts';
import { fetchTorrent } from '../swarm/fetch-torrent.ts';
import { swarmDone, type NodeApi } from '../swarm/node-api.ts';
import type { RestorePlan } from '../../contract/plan.ts';
import type { ReportedPhase } from '../../contract/report.ts';
import type { ClientReport } from './api.ts';
import type { BootParams } from './boot-params.ts';
import type { NodeConsole } from './console.ts';
import { pickDisk, restore, type RestoreResult } from './restore.ts';
import { releaseScratch, SCRATCH_MOUNT, type DiskScratch } from '../restore/scratch.ts';
import { deactivateVolumeGroups } from '../restore/lvm.ts';
import { stopArrays } from '../restore/md.ts';
import { erasePieceArea } from '../../torrent/piece-area.ts';
import { memoryLine, watchMemory } from './memory-watch.ts';
import { readTrustedKeys, verifyPlanSignature } from './trust.ts';
import { secureBootEnabled, secureBootRefusal } from '../restore/secure-boot.ts';

/** What a deployment needs from main. */
export interface DeployDeps {
  plan: RestorePlan;
  params: BootParams;
  api: NodeApi;
  ip: string;
  firmware: 'bios' | 'uefi';
  con: NodeConsole;
  report: (r: ClientReport) => Promise<boolean>;
  runner: Runner;
  log: Logger;
  signal: AbortSignal;
  /** Where the downloaded image is kept while the node seeds (RAM in the netboot environment). */
  swarmDir?: string;
  /** Where the public keys the node trusts to sign images are; default TRUSTED_KEYS_DIR. */
  trustedKeysDir?: string;
  /** The firmware's SecureBoot variable (tests); default SECURE_BOOT_VAR. */
  secureBootVar?: string;
}

/** Errors raised before anything was written to the disk (a refused signature, a wrong torrent, a disk too small). */
export const refusedBeforeWriting = new WeakSet<object>();

/** Restore per the plan, then seed; resolves when the node may reboot into its disk. */
export async function runDeployment(d: DeployDeps): Promise<RestoreResult> {
  const { plan, con, log, report } = d;
  const meta = plan.meta;
  const label = `${plan.image.name}@${plan.image.version}`;
  con.line(`deploying ${label} (${formatBytes(meta.artifact.rawBytes)}, ${meta.artifact.files} files, from ${meta.sourceHost})`);

  const swarmDir = d.swarmDir ?? '/run/imgsrv/swarm';
  // The refusals below leave the disk as it was; the console then says so instead of "may be incomplete".
  let target: Awaited<ReturnType<typeof pickDisk>>;
  let torrentFile: string;
  let secureBoot = false;
  try {
    // A refused image must leave the disk as it was: check before the disk is even chosen.
    const trust = verifyPlanSignature(plan, await readTrustedKeys(d.trustedKeysDir));
    if (trust.signed) con.line(`image signed by key ${trust.keyId}`);
    // The torrent must be the one the (signed) meta names: then every piece is checked, as it arrives, against
    // hashes the signature vouches for, and no unauthenticated byte reaches the disk.
    if (!meta.torrent) {
      throw new ImgsrvError('IMAGE_INVALID', `refusing ${label}: its meta names no torrent info hash`, { hint: 'publish the image again on this server (imgsrv images verify)' });
    }
    await mkdir(swarmDir, { recursive: true });
    torrentFile = await fetchTorrent(plan.torrentUrl, `${swarmDir}/.torrents`, { logger: log, signal: d.signal, expectInfoHash: meta.torrent.infoHash });
    // Secure Boot on: the restored system must boot through the image's own signed chain, or the disk is left unbootable.
    if (d.firmware === 'uefi' && (await secureBootEnabled(d.secureBootVar))) {
      secureBoot = true;
      const why = secureBootRefusal(meta.host);
      if (why) throw new ImgsrvError('IMAGE_INVALID', `refusing ${label} on this Secure Boot node: ${why}`, { hint: 'the disk was not touched' });
      con.line('Secure Boot is on: the image boots through its own shim and signed GRUB');
    }
    // Refuse a disk that is too small before the download starts and before anything is written.
    target = await pickDisk(meta, plan.targetDisk, { keep: plan.keep });
  } catch (err) {
    if (err !== null && typeof err === 'object') refusedBeforeWriting.add(err);
    throw err;
  }
  const { disk, scratch } = target;
  con.line(`target disk ${disk.path}: ${formatBytes(disk.sizeBytes)} ${disk.transport}${disk.model ? ` ${disk.model}` : ''}`);
  const mirror = target.mirror;
  if (mirror) con.line(`second disk of the md RAID1 mirror ${mirror.path}: ${formatBytes(mirror.sizeBytes)} ${mirror.transport}${mirror.model ? ` ${mirror.model}` : ''}`);
  if (scratch.kind === 'disk') con.line(`image pieces kept on ${disk.path} (scratch area of ${formatBytes(scratch.sizeBytes)} at the end of partition ${scratch.partition}, given back after seeding)`);
  else con.line(`image pieces kept in memory: ${scratch.reason}`);

  let phase: ReportedPhase = 'downloading';
  let written = 0;
  const total = meta.artifact.rawBytes;
  let hostname: string | undefined = plan.hostname.assigned ?? undefined;
  const hostnamePromise: Promise<string> = hostname
    ? (con.line(`hostname ${hostname} (assigned by the server)`), Promise.resolve(hostname))
    : con.promptHostname(plan.hostname.suggestion, plan.hostname.promptTimeoutSec).then((r) => {
        hostname = r.hostname;
        con.line(`hostname ${r.hostname}${r.how === 'typed' ? '' : ' (the suggestion)'}`);
        void report({ phase, hostname: r.hostname });
        return r.hostname;
      });

  // On the disk, what an earlier run of this deployment left there (a reboot, a lost link) is verified and resumed.
  const pieceArea = scratch.kind === 'disk' ? { path: disk.path, offset: scratch.offsetBytes, sizeBytes: scratch.sizeBytes } : undefined;
  const dl = await SwarmDownload.start({ torrentFile, dataDir: swarmDir, address: d.ip, logger: log, signal: d.signal, ...(pieceArea ? { pieceArea } : {}) });
  const memory = watchMemory();
  const resumed = dl.stats().resumed;
  if (resumed > 0) con.line(`resuming the download: ${formatBytes(resumed)} of ${formatBytes(dl.stats().length)} already on this disk, verified`);
  const send = (): Promise<boolean> => report({ phase, swarm: dl.stats(), restore: { written, total }, ...(hostname ? { hostname } : {}) });
  const reporter = setInterval(() => void send(), 2000);
  let lastLine = 0;
  let unpacking = false;
  const line = (): void => {
    if (Date.now() - lastLine < 5000) return;
    lastLine = Date.now();
    const s = dl.stats();
    const disk = unpacking ? `disk ${Math.floor((100 * written) / Math.max(1, total))}% (${formatBytes(written)}), ` : '';
    con.line(`${phase}: ${disk}download ${Math.floor(s.progress * 100)}% at ${formatRate(s.downloadSpeed)}, ${s.peers} peers, sent ${formatBytes(s.uploaded)}`);
  };
  const onProgress = (w: number): void => {
    written = w;
    unpacking = true;
    line();
  };
  // The console hears of the download too while the disk is still being partitioned (before "disk N%").
  dl.on('progress', (st: SwarmStats) => {
    if (!st.done) line();
  });
  try {
    void send();
    const result = await restore({
      meta,
      keep: plan.keep,
      target,
      firmware: d.firmware,
      secureBoot,
      kernelArgs: d.params.consoleArgs,
      input: () => dl.stream(),
      hostname: hostnamePromise,
      reportUp: { server: d.params.server, mac: d.params.mac, token: d.params.token },
      network: plan.network ? { mac: d.params.mac, address: plan.network } : null,
      runner: d.runner,
      log,
      signal: d.signal,
      onPhase: (p, text) => {
        if (phase !== p) {
          phase = p;
          void send();
        }
        con.line(text);
      },
      onNote: (text) => {
        con.line(`note: ${text}`);
        void report({ phase, message: text });
      },
      onProgress,
      onUnpacked: () => dl.restoreEnded(),
    });
    await dl.whenComplete();
    phase = 'seeding';
    await send();
    const s = dl.stats();
    con.line(`restored ${result.files} files to ${result.disk.path} as ${result.hostname}; image ${formatBytes(s.length)} (${formatBytes(s.fromPeers)} from peers, ${formatBytes(s.fromWebSeed)} from the web seed)`);
    const pct = (n: number): string => `${Math.round((100 * n) / Math.max(1, s.length))}%`;
    con.line(`download: fetched ${pct(s.fromPeers + s.fromWebSeed)} of the image, ${pct(s.resumed)} resumed from this disk`);
    if (s.lag.seconds !== null) {
      con.line(`the image was unpacked ${s.lag.seconds.toFixed(1)} s after its download ended (${formatBytes(s.lag.atDownloadEnd ?? 0)} left to unpack then; largest backlog ${formatBytes(s.lag.maxBacklog)})`);
    }
    con.line(`seeding for the other nodes until the deployment completes (at most ${plan.linger} s)`);
    const how = await dl.seedUntil({ lingerMs: plan.linger * 1000, pollMs: 3000, isDone: () => swarmDone(d.api, s.infoHash) });
    con.line(how === 'done' ? `deployment complete; sent ${formatBytes(dl.stats().uploaded)} to peers` : 'linger time over; stopping seeding');
    await dl.close();
    if (scratch.kind === 'disk') await giveBackScratch(d, scratch, result);
    await deactivateLvm(d, result);
    await stopMd(d, result);
    con.line(memoryLine(memory.peak()));
    // With a reporter in the restored system, "done" is its word once it is up; without one, ours now.
    phase = result.upReporter === 'none' ? 'done' : 'rebooting';
    await send();
    return result;
  } finally {
    clearInterval(reporter);
    memory.stop();
    await dl.close().catch(() => {});
  }
}

/** Erase the scratch area and grow its partition's file system over it; a failure leaves a bootable disk and is said, not thrown. */
async function giveBackScratch(d: DeployDeps, scratch: DiskScratch, result: RestoreResult): Promise<void> {
  const lvm = scratch.lvm;
  const entry = lvm ? result.mapping.find((m) => m.lv?.vg === lvm.vg && m.lv.name === lvm.lv) : result.mapping.find((m) => m.number === scratch.partition && !m.lv);
  const device = entry?.device;
  try {
    if (!device) throw new ImgsrvError('INTERNAL', `${lvm ? `logical volume ${lvm.vg}/${lvm.lv}` : `partition ${scratch.partition}`} is not in the restore's mapping`);
    await releaseScratch(d.runner, scratch, device, { mnt: SCRATCH_MOUNT, erase: erasePieceArea, log: d.log, ...(entry.lv ? { pvs: entry.lv.pvs } : {}) });
    d.con.line(`scratch area given back: ${device} grown by ${formatBytes(scratch.sizeBytes)}`);
  } catch (err) {
    const grow = lvm ? `pvresize, lvextend -l +100%FREE ${lvm.vg}/${lvm.lv}, then resize2fs or xfs_growfs` : 'resize2fs or xfs_growfs';
    const text = `the scratch area at the end of partition ${scratch.partition} could not be given back (${err instanceof ImgsrvError ? err.oneLine() : (err as Error).message}): the system is restored and boots, its file system is ${formatBytes(scratch.sizeBytes)} short of the partition's end (grow it with ${grow})`;
    d.log.error({ err }, 'scratch area not given back');
    d.con.line(`note: ${text}`);
    await d.report({ phase: 'seeding', message: text });
  }
}

/** Deactivate the restored volume groups before the reboot (a VG left active in the netboot environment is harmless, but its LVs must be quiet); a failure is said, not thrown. */
async function deactivateLvm(d: DeployDeps, result: RestoreResult): Promise<void> {
  const vgs = new Map<string, string[]>();
  for (const m of result.mapping) if (m.lv) vgs.set(m.lv.vg, m.lv.pvs.map((p) => p.device));
  for (const [vg, pvs] of vgs) {
    try {
      await deactivateVolumeGroups(d.runner, [vg], pvs);
    } catch (err) {
      d.log.error({ err, vg }, 'volume group not deactivated');
      d.con.line(`note: volume group ${vg} could not be deactivated before the reboot (${err instanceof ImgsrvError ? err.oneLine() : (err as Error).message})`);
    }
  }
}

/** Stop the restored md arrays before the reboot, so their superblocks say clean (the resync resumes from its checkpoint on the first boot); a failure is said, not thrown. */
async function stopMd(d: DeployDeps, result: RestoreResult): Promise<void> {
  for (const md of result.layout.md ?? []) {
    try {
      await stopArrays(d.runner, [md.device]);
    } catch (err) {
      d.log.error({ err, device: md.device }, 'md array not stopped');
      d.con.line(`note: md array ${md.device} could not be stopped before the reboot (${err instanceof ImgsrvError ? err.oneLine() : (err as Error).message}); it resyncs on the first boot`);
    }
  }
}
