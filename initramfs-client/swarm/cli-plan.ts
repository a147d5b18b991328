/**
 * The headless CLI's `--plan` mode: start as a booted node does (report
 * `booted`, ask `GET /api/v1/nodes/<mac>/plan` until the server says
 * restore) and take the torrent and the image's size and sha256 from the
 * plan, so a simulated node goes through the deployment protocol and checks
 * what it downloaded against the published image: everything but the disk.
 */
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { fetchPlan, type ClientReport, type DeployPlan } from '../client/api.ts';
import type { NodeApi } from './node-api.ts';

/** What to download, and for a plan what its in-order stream must hash to. */
export interface DownloadTarget {
  torrent: string;
  /** The published image's artifact (plan.meta.artifact); null for a bare --torrent. */
  expected: { image: string; sha256: string; bytes: number; infoHash?: string } | null;
  /** The plan's linger (seconds), when the server gave one. */
  lingerSec: number | null;
}

/** Ask for the plan as main.ts does; null when the node has nothing to do (installed: it would boot its disk). */
export async function targetFromPlan(
  api: NodeApi,
  ip: string,
  report: (r: ClientReport) => Promise<boolean>,
  log: Logger,
  signal: AbortSignal,
  onPlan: (plan: DeployPlan) => void,
): Promise<DownloadTarget | null> {
  for (;;) {
    // /init reports `booted` before the client starts; a waiting node repeats it (main.ts).
    await report({ phase: 'booted', ip });
    const plan = await fetchPlan(api, log, signal);
    onPlan(plan);
    if (plan.action === 'local-boot') return null;
    if (plan.action === 'wipe') throw new ImgsrvError('CONFLICT', 'the server asks this node to wipe its disk; a simulated node has none', { hint: `imgsrv nodes rm ${api.mac}` });
    if (plan.action === 'restore') {
      const { sha256, compressedBytes } = plan.meta.artifact;
      const infoHash = plan.meta.torrent?.infoHash;
      return { torrent: plan.torrentUrl, expected: { image: `${plan.image.name}@${plan.image.version}`, sha256, bytes: compressedBytes, ...(infoHash ? { infoHash } : {}) }, lingerSec: plan.linger };
    }
    log.info({ reason: plan.reason }, 'waiting for the server');
    await new Promise((r) => setTimeout(r, plan.retryAfterSec * 1000));
    signal.throwIfAborted();
  }
}

/** Throw IMAGE_INVALID unless the streamed bytes are the plan's image. */
export function checkAgainstPlan(expected: DownloadTarget['expected'], got: { sha256: string; bytes: number }): void {
  if (!expected || (expected.sha256 === got.sha256 && expected.bytes === got.bytes)) return;
  throw new ImgsrvError('IMAGE_INVALID', `downloaded ${got.bytes} bytes with sha256 ${got.sha256}, but ${expected.image} is ${expected.bytes} bytes with sha256 ${expected.sha256}`, {
    hint: 'the torrent and the image metadata on the server disagree: run `imgsrv images verify`',
  });
}
