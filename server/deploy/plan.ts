/**
 * What a booted node does next, decided by the server: restore an image
 * (which one, from which torrent, with which hostname and kept partitions),
 * wait for an operator, or boot its local disk. The node asks at
 * `GET /api/v1/nodes/:mac/plan`; its reports move the install state:
 *
 *   none/pending --plan--> installing --seeding|done--> installed
 *                              |  \--failed--> failed --reimage--> pending
 *                              \--(power cut, plan again)--> installing
 *
 * An installed node is sent to its local disk (iPXE `exit`) until an
 * operator asks for a re-image. While a node installs, the image version
 * is locked against removal. A node's group, when it has one, supplies the
 * image, hostname pattern, kept partitions and boot settings in place of
 * the global ones. A retired node is never installed again; retired with
 * wipe, its next plan is to erase its disk.
 */
import type { DeployPlan } from '../../contract/plan.ts';
import type { NodePhase } from '../../contract/report.ts';
import { expandHostnamePattern } from '../../core/hostname.ts';
import type { ImageMeta } from '../../images/meta.ts';
import { ImgsrvError } from '../../core/errors.ts';
import type { ImageLocks } from '../images/locks.ts';
import type { ImageStore } from '../images/store.ts';
import { parseImageRef, type ImageRef } from '../../images/names.ts';
import type { Store } from '../store/db.ts';
import type { NodeRecord } from '../store/nodes.ts';
import type { GroupRecord } from '../store/groups.ts';

export type { DeployPlan };

/** Deployment settings from the config (the settings table overrides image and keep). */
export interface DeploySettings {
  image?: string | undefined;
  keep: string[];
  promptTimeout: number;
  targetDisk?: string | undefined;
  hostnamePattern: string;
  linger: number;
  /** Seconds from `rebooting` to the restored system's `done` before the node is failed as "did not come up" (default 900). */
  upTimeout?: number;
}

/** What planning needs from the server. */
export interface DeployContext {
  store: Store;
  images: ImageStore;
  locks: ImageLocks;
  settings: DeploySettings;
  /** rsync://addr:port/torrents */
  torrentBase: string;
}

const lockHolder = (mac: string): string => `node:${mac}`;

/** Release the lock a node's install holds on its image version (installedImage NAME@VERSION), if any. */
function releaseInstallLock(ctx: DeployContext, node: NodeRecord): void {
  const [name, v] = (node.installedImage ?? '').split('@');
  if (name && v) ctx.locks.release(name, Number(v), lockHolder(node.mac));
}

/** The image blank nodes get: the operator's setting, else the config's. */
export function defaultImage(ctx: DeployContext): string | undefined {
  return ctx.store.settings.get<string>('deploy.image') ?? ctx.settings.image;
}

/** Partitions kept on re-image: the operator's setting, else the config's. */
export function keepList(ctx: DeployContext): string[] {
  return ctx.store.settings.get<string[]>('deploy.keep') ?? ctx.settings.keep;
}

/** The hostname pattern for unassigned nodes: the operator's setting, else the config's. */
export function hostnamePattern(ctx: DeployContext): string {
  return ctx.store.settings.get<string>('nodes.hostnamePattern') ?? ctx.settings.hostnamePattern;
}

/** The settings that apply to one node: its group's where set, else the global ones. */
export function effectiveSettings(ctx: DeployContext, node: NodeRecord): {
  image: string | undefined;
  hostnamePattern: string;
  keep: string[];
  targetDisk: string | null;
  promptTimeout: number;
  group: GroupRecord | undefined;
} {
  const group = node.group ? ctx.store.groups.get(node.group) : undefined;
  return {
    image: node.image ?? group?.image ?? defaultImage(ctx),
    hostnamePattern: group?.hostnamePattern ?? hostnamePattern(ctx),
    keep: group?.keep ?? keepList(ctx),
    targetDisk: node.targetDisk ?? group?.targetDisk ?? ctx.settings.targetDisk ?? null,
    promptTimeout: group?.promptTimeout ?? ctx.settings.promptTimeout,
    group,
  };
}

/** Resolve NAME / NAME@VERSION to a published version with a torrent; throws NOT_FOUND / IMAGE_INVALID. */
export function resolveImage(images: ImageStore, raw: string): { ref: Required<ImageRef>; meta: ImageMeta } {
  const ref = parseImageRef(raw);
  const meta = images.meta(ref.name, ref.version);
  if (!meta.torrent) {
    throw new ImgsrvError('IMAGE_INVALID', `${meta.name}@${meta.version} has no torrent yet`, { hint: 'wait for imgsrv serve to finish seeding it (see `imgsrv swarm ls`)' });
  }
  return { ref: { name: meta.name, version: meta.version }, meta };
}

/** Decide what node `mac` does now; a restore plan moves it to `installing` and locks the image version. */
export function planFor(ctx: DeployContext, mac: string): DeployPlan {
  const { store } = ctx;
  const node = store.nodes.get(mac) ?? store.nodes.record({ mac });
  const eff = effectiveSettings(ctx, node);
  if (node.retired) {
    if (node.retired.wipe) {
      store.nodes.markWipePlanned(mac);
      return { action: 'wipe', reason: 'retired: erase the disk, then power off', targetDisk: eff.targetDisk };
    }
    return { action: 'wait', reason: `retired; \`imgsrv nodes rm ${mac}\` forgets it (it then installs as a new node)`, retryAfterSec: 300 };
  }
  if (node.install === 'installed') {
    return { action: 'local-boot', reason: `installed with ${node.installedImage ?? 'an image'}; \`imgsrv nodes reimage ${mac}\` to install again` };
  }
  if (node.install === 'failed') {
    return {
      action: 'wait',
      reason: `the last restore failed; waiting for an operator (\`imgsrv nodes reimage ${mac}\` retries)`,
      retryAfterSec: 15,
    };
  }
  const raw = eff.image;
  if (!raw) return { action: 'wait', reason: 'no image is set for blank nodes (`imgsrv deploy set IMAGE`)', retryAfterSec: 10 };
  let resolved: ReturnType<typeof resolveImage>;
  try {
    resolved = resolveImage(ctx.images, raw);
  } catch (err) {
    return { action: 'wait', reason: `image ${raw} is not deployable: ${(err as ImgsrvError).message}`, retryAfterSec: 10 };
  }
  const { ref, meta } = resolved;
  const seq = store.nodes.ensureSeq(mac);
  const label = `${ref.name}@${ref.version}`;
  ctx.locks.acquire(ref.name, ref.version, lockHolder(mac), 'node installing');
  if (node.install !== 'installing' || node.installedImage !== label) {
    store.nodes.setInstall(mac, 'installing', { installedImage: label, error: null });
    store.events.add('node.installing', `restoring ${label}`, { mac });
  }
  return {
    action: 'restore',
    image: ref,
    torrentUrl: `${ctx.torrentBase}/${encodeURIComponent(ref.name)}/${ref.version}.torrent`,
    meta,
    hostname: { assigned: node.hostname, suggestion: expandHostnamePattern(eff.hostnamePattern, seq, mac), promptTimeoutSec: eff.promptTimeout },
    keep: eff.keep,
    targetDisk: eff.targetDisk,
    linger: ctx.settings.linger,
    signature: ctx.images.signature(ref.name, ref.version),
    network: node.network,
  };
}

/** Apply a node's report to its install state (and the image lock). */
export function onNodeReport(ctx: DeployContext, before: NodeRecord | undefined, mac: string, phase: NodePhase | undefined, message?: string): void {
  // Only a node that was handed its wipe plan can have wiped its disk: a 'retired' report before that changes nothing.
  if (before?.retired?.wipe && before.wipePlannedAt !== null && phase === 'retired') {
    ctx.store.nodes.setRetired(mac, { wipe: false });
    ctx.store.events.add('node.wiped', message ?? 'disk wiped', { mac });
    return;
  }
  // A node that fails before it has a plan (say, its netboot environment can't find a disk driver) still shows why.
  if (phase === 'failed' && before?.install !== 'installing') {
    ctx.store.nodes.setInstall(mac, before?.install ?? 'none', { error: message ?? 'failed (no detail reported)' });
    return;
  }
  // The restored system is up: a late report clears the "did not come up" failure.
  if (phase === 'done' && before?.error?.startsWith(DID_NOT_COME_UP)) ctx.store.nodes.setInstall(mac, before.install, { error: null });
  if (!phase || before?.install !== 'installing') return;
  // The disk is bootable from the moment the node seeds: a power cut then must boot it, not restore again.
  if (phase === 'seeding' || phase === 'rebooting' || phase === 'done') {
    ctx.store.nodes.setInstall(mac, 'installed', { error: null });
    releaseInstallLock(ctx, before);
  } else if (phase === 'failed') {
    ctx.store.nodes.setInstall(mac, 'failed', { error: message ?? 'failed (no detail reported)' });
    releaseInstallLock(ctx, before);
  }
}

const DID_NOT_COME_UP = 'did not come up';

/**
 * Fail the nodes that rebooted into their restored system and never said it
 * came up (no `done` within upTimeout): their phase becomes `failed` with why.
 * The disk stays installed (it is bootable; the system on it is what failed).
 */
export function checkUpTimeouts(ctx: DeployContext, now = Date.now()): string[] {
  const limitMs = (ctx.settings.upTimeout ?? 900) * 1000;
  const failed: string[] = [];
  for (const n of ctx.store.nodes.list()) {
    if (n.phase !== 'rebooting' || now - n.lastSeen < limitMs) continue;
    const why = `${DID_NOT_COME_UP}: no word from the restored system within ${Math.round(limitMs / 1000)} s of its reboot (check its console: boot loader, network, or a firewall between it and the server)`;
    ctx.store.nodes.record({ mac: n.mac, phase: 'failed' }, now);
    ctx.store.nodes.setInstall(n.mac, n.install, { error: why });
    ctx.store.events.add('node.failed', why, { mac: n.mac });
    failed.push(n.mac);
  }
  return failed;
}

/** Ask for a (re)install at the node's next boot, optionally pinned to an image. */
export function requestReimage(ctx: DeployContext, mac: string, image?: string | null): NodeRecord {
  if (image) resolveImage(ctx.images, image);
  if (image !== undefined) ctx.store.nodes.setImage(mac, image);
  const node = ctx.store.nodes.get(mac) ?? ctx.store.nodes.record({ mac });
  releaseInstallLock(ctx, node);
  if (node.retired) ctx.store.nodes.setRetired(mac, null);
  ctx.store.nodes.setInstall(mac, 'pending', { error: null });
  ctx.store.events.add('node.reimage', `re-image requested${image ? ` with ${image}` : ''}`, { mac });
  return ctx.store.nodes.get(mac)!;
}

/** Retire a node: out of the inventory and never installed again; `wipe` erases its disk at its next network boot. */
export function retireNode(ctx: DeployContext, mac: string, wipe: boolean): NodeRecord {
  const node = ctx.store.nodes.get(mac) ?? ctx.store.nodes.record({ mac });
  releaseInstallLock(ctx, node);
  const out = ctx.store.nodes.setRetired(mac, { wipe })!;
  ctx.store.events.add('node.retired', wipe ? 'retired; its disk is erased at its next network boot' : 'retired', { mac });
  return out;
}
