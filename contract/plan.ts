/**
 * The deployment plan: the server's answer to a booted node's
 * `GET /api/v1/nodes/:mac/plan`, one variant per action. The server builds
 * it (server/deploy/plan.ts) and the node acts on it
 * (initramfs-client/client/main.ts); both import this one definition, so a
 * restore plan always carries its image, torrent and hostname and no caller
 * re-checks them.
 */
import type { ImageMeta } from '../images/meta.ts';
import type { ImageSignature } from '../images/signing.ts';

/** Restore an image version onto the node's disk, then seed it. */
export interface RestorePlan {
  action: 'restore';
  image: { name: string; version: number };
  /** rsync://server/torrents/<image>/<version>.torrent */
  torrentUrl: string;
  meta: ImageMeta;
  /** The hostname to take: the operator's, else ask with `suggestion` as the default after `promptTimeoutSec`. */
  hostname: { assigned: string | null; suggestion: string; promptTimeoutSec: number };
  /** Mount points whose partitions survive the re-image when the layout matches. */
  keep: string[];
  /** The disk to restore onto (a /dev path); null = the node picks. */
  targetDisk: string | null;
  /** Seconds to keep seeding after the image is complete, when the server has not said done. */
  linger: number;
  /** The version's signature (meta.sig); null when unsigned. A node that trusts a key refuses an unsigned or badly signed image. */
  signature: ImageSignature | null;
  /** This node's own static address, written in the restored OS's own network config; null = DHCP. */
  network?: NodeAddress | null;
}

/** A per-node static IPv4 address, as the operator set it (`imgsrv nodes set MAC --address …`). */
export interface NodeAddress {
  /** CIDR, e.g. 10.0.0.21/24 */
  address: string;
  gateway?: string;
  dns?: string[];
}

const IPV4 = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$/;

/** What is wrong with a node address, or undefined when it is good. */
export function nodeAddressProblem(n: NodeAddress): string | undefined {
  const [ip, len, extra] = n.address.split('/');
  if (extra !== undefined || !ip || !IPV4.test(ip) || !len || !/^\d{1,2}$/.test(len) || Number(len) < 1 || Number(len) > 32) return `address ${JSON.stringify(n.address)} is not IPv4 CIDR like 10.0.0.21/24`;
  if (n.gateway !== undefined && !IPV4.test(n.gateway)) return `gateway ${JSON.stringify(n.gateway)} is not an IPv4 address`;
  for (const d of n.dns ?? []) if (!IPV4.test(d)) return `dns ${JSON.stringify(d)} is not an IPv4 address`;
  return undefined;
}

/** Nothing to do yet: ask again after `retryAfterSec`. */
export interface WaitPlan {
  action: 'wait';
  /** Why (shown on the node's console). */
  reason: string;
  retryAfterSec: number;
}

/** The node is installed: boot its local disk. */
export interface LocalBootPlan {
  action: 'local-boot';
  reason: string;
}

/** The node was retired with wipe: erase its disk, report `retired`, power off. */
export interface WipePlan {
  action: 'wipe';
  reason: string;
  targetDisk: string | null;
}

/** The server's answer to a booted node. */
export type DeployPlan = RestorePlan | WaitPlan | LocalBootPlan | WipePlan;

/**
 * Check the shape of a plan as it arrives over the network, so the node acts
 * only on a whole plan: throws a plain Error naming the first field missing.
 * The image's own content is checked later, against its signature and hashes.
 */
export function parsePlan(body: unknown): DeployPlan {
  const p = body as Record<string, unknown> | null;
  const fail = (what: string): never => {
    throw new Error(`the server sent a plan without ${what}`);
  };
  if (!p || typeof p !== 'object') return fail('a body');
  const str = (k: string): void => void (typeof p[k] === 'string' || fail(k));
  switch (p.action) {
    case 'restore': {
      const image = p.image as { name?: unknown; version?: unknown } | undefined;
      if (typeof image?.name !== 'string' || typeof image.version !== 'number') fail('image');
      str('torrentUrl');
      if (!p.meta || typeof p.meta !== 'object') fail('meta');
      const h = p.hostname as { suggestion?: unknown; promptTimeoutSec?: unknown } | undefined;
      if (typeof h?.suggestion !== 'string' || typeof h.promptTimeoutSec !== 'number') fail('hostname');
      if (!Array.isArray(p.keep)) fail('keep');
      if (typeof p.linger !== 'number') fail('linger');
      if (p.network != null && (typeof p.network !== 'object' || typeof (p.network as NodeAddress).address !== 'string' || nodeAddressProblem(p.network as NodeAddress))) fail('a good network address');
      return { targetDisk: null, signature: null, network: null, ...p } as unknown as RestorePlan;
    }
    case 'wait':
      str('reason');
      return { retryAfterSec: 10, ...p } as unknown as WaitPlan;
    case 'local-boot':
      str('reason');
      return p as unknown as LocalBootPlan;
    case 'wipe':
      str('reason');
      return { targetDisk: null, ...p } as unknown as WipePlan;
    default:
      return fail(`a known action (got ${JSON.stringify(p.action)})`);
  }
}
