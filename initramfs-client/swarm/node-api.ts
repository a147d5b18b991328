/**
 * The node's server calls on the swarm side: the request helper (node
 * token, timeout, coded errors) that client/api.ts builds its plan and
 * reports on, the `swarm` object of a report, and whether the deployment
 * is complete (`GET /api/v1/swarm/<infoHash>`).
 */
import { ImgsrvError } from '../../core/errors.ts';
import type { NodeSwarmReport } from '../../contract/report.ts';
import type { SwarmStats } from '../../torrent/download.ts';

/** Where the server is and who this node is. */
export interface NodeApi {
  /** Base URL, e.g. http://198.18.0.1:8080 */
  server: string;
  token: string;
  mac: string;
  /** Per-request timeout (default 5 s): a slow server never stalls seeding or the download. */
  timeoutMs?: number;
}

/** The `swarm` object of a node report: exactly the fields the server's schema accepts. */
export function swarmReport(s: SwarmStats): NodeSwarmReport {
  const n = (x: number): number => (Number.isFinite(x) && x > 0 ? Math.round(x) : 0);
  return {
    infoHash: s.infoHash,
    downloaded: n(s.downloaded),
    uploaded: n(s.uploaded),
    peers: n(s.peers),
    progress: Math.min(1, Math.max(0, s.progress)),
    downloadSpeed: n(s.downloadSpeed),
    uploadSpeed: n(s.uploadSpeed),
  };
}

/** True when the server says the deployment of this torrent is complete and nodes may stop seeding. */
export async function swarmDone(api: NodeApi, infoHash: string): Promise<boolean> {
  const body = (await call(api, 'GET', `/api/v1/swarm/${infoHash}`)) as { done?: unknown } | null;
  return body?.done === true;
}

/** One JSON request to the server with the node token; throws SERVER_UNREACHABLE / UNAUTHORIZED. */
export async function call(api: NodeApi, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const url = new URL(path, api.server);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${api.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(api.timeoutMs ?? 5000),
    });
  } catch (err) {
    throw new ImgsrvError('SERVER_UNREACHABLE', `${method} ${url.href} failed: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  if (res.status === 401) throw new ImgsrvError('UNAUTHORIZED', `${method} ${url.pathname}: the server refused the node token`, { hint: 'check imgsrv.token= on the kernel command line' });
  if (!res.ok) throw new ImgsrvError('SERVER_UNREACHABLE', `${method} ${url.pathname}: HTTP ${res.status} ${text.slice(0, 200)}`);
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}
