/**
 * The node's calls to the server besides the swarm's: its deployment plan
 * and its phase reports. Reports are best effort (a server restarting must
 * not stop a restore that can finish from peers); the plan is retried until
 * the server answers.
 */
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { parsePlan, type DeployPlan } from '../../contract/plan.ts';
import { REPORT_MESSAGE_MAX, type NodeLagReport, type NodeReport, type ReportedPhase } from '../../contract/report.ts';
import { call, swarmReport, type NodeApi } from '../swarm/node-api.ts';
import type { SwarmStats } from '../../torrent/download.ts';

export type { DeployPlan };

/** One report: phase plus whatever is known. */
export interface ClientReport {
  phase: ReportedPhase;
  message?: string;
  hostname?: string;
  ip?: string;
  firmware?: 'bios' | 'uefi';
  swarm?: SwarmStats;
  restore?: { written: number; total: number };
}

/** Ask for the plan, retrying (with backoff up to 30 s) until the server answers or `signal` aborts. */
export async function fetchPlan(api: NodeApi, log: Logger, signal: AbortSignal, onRetry?: (err: ImgsrvError, waitSec: number) => void): Promise<DeployPlan> {
  let wait = 2;
  for (;;) {
    try {
      const body = await call(api, 'GET', `/api/v1/nodes/${api.mac}/plan`);
      try {
        return parsePlan(body);
      } catch (err) {
        throw new ImgsrvError('SERVER_UNREACHABLE', (err as Error).message, { hint: 'the server and this netboot environment are of different versions: rebuild it (imgsrv netboot build)' });
      }
    } catch (err) {
      if ((err as ImgsrvError).code === 'UNAUTHORIZED') throw err;
      log.warn({ err: (err as Error).message }, 'plan request failed; retrying');
      onRetry?.(err as ImgsrvError, wait);
      await new Promise((r) => setTimeout(r, wait * 1000));
      signal.throwIfAborted();
      wait = Math.min(30, wait * 2);
    }
  }
}

/** Send a report; failures are logged (at most every tenth) and swallowed. */
export function createReporter(api: NodeApi, log: Logger): (r: ClientReport) => Promise<boolean> {
  let failures = 0;
  return async (r) => {
    const body: NodeReport = {
      mac: api.mac,
      phase: r.phase,
      ...(r.message ? { message: r.message.slice(-(REPORT_MESSAGE_MAX - 192)) } : {}),
      ...(r.hostname ? { hostname: r.hostname } : {}),
      ...(r.ip ? { ip: r.ip } : {}),
      ...(r.firmware ? { firmware: r.firmware } : {}),
      ...(r.swarm ? { swarm: swarmReport(r.swarm), lag: lagReport(r.swarm.lag) } : {}),
      ...(r.restore ? { restore: { written: Math.max(0, Math.round(r.restore.written)), total: Math.max(0, Math.round(r.restore.total)) } } : {}),
    };
    try {
      await call(api, 'POST', '/api/v1/nodes/report', body);
      return true;
    } catch (err) {
      if (failures++ % 10 === 0) log.warn({ err: (err as Error).message, phase: r.phase }, 'report failed; continuing');
      return false;
    }
  };
}

/** The lag figures as the server's schema takes them: whole bytes, seconds to the millisecond. */
function lagReport(l: SwarmStats['lag']): NodeLagReport {
  const bytes = (n: number): number => Math.max(0, Math.round(n));
  return {
    backlog: bytes(l.backlog),
    maxBacklog: bytes(l.maxBacklog),
    atDownloadEnd: l.atDownloadEnd === null ? null : bytes(l.atDownloadEnd),
    seconds: l.seconds === null ? null : Math.max(0, Math.round(l.seconds * 1000) / 1000),
  };
}
