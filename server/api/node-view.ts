/**
 * A node as the API, the CLI and the console show it: the inventory row
 * plus its latest swarm report and restore progress, both kept in memory
 * (they change every second and are worthless after a restart).
 */
import type { Store } from '../store/db.ts';
import type { NodePhase, NodeRecord } from '../store/nodes.ts';
import type { NodeSwarmReport, SwarmService } from '../swarm/service.ts';
import type { NodeLagReport } from '../../contract/report.ts';

/** A node with its live progress. */
export type NodeView = NodeRecord & {
  swarm?: NodeSwarmReport & { at: number };
  restore?: { written: number; total: number };
  /** How far its restore trailed its download (the latest deployment's, until the server restarts). */
  lag?: NodeLagReport;
};

/** Live per-node progress and the views built from it. */
export class NodeViews {
  private readonly store: Store;
  private readonly swarm: SwarmService | undefined;
  private readonly restoreProgress = new Map<string, { written: number; total: number; at: number }>();
  private readonly lags = new Map<string, NodeLagReport>();
  /** Bumped by every report, so live views know when to recompute. */
  version = 0;
  /** MACs touched since the live feed last asked (takeChanged); `everything` when a change had no MAC. */
  private changed = new Set<string>();
  private everything = true;

  constructor(store: Store, swarm?: SwarmService) {
    this.store = store;
    this.swarm = swarm;
  }

  /** Record a node's restore progress (bytes written to disk of the image's size). */
  restore(mac: string, p: { written: number; total: number }): void {
    this.restoreProgress.set(mac, { ...p, at: Date.now() });
  }

  /** Record how far a node's restore trails its download. */
  lag(mac: string, l: NodeLagReport): void {
    this.lags.set(mac, l);
  }

  /** Note that something about node `mac` changed (without a MAC: possibly any node). */
  touch(mac?: string | null): void {
    this.version++;
    if (mac) this.changed.add(mac);
    else this.everything = true;
  }

  /** The MACs touched since the last call ('all' when a change named no node), and start a new round. */
  takeChanged(): string[] | 'all' {
    const out = this.everything ? 'all' : [...this.changed];
    this.changed = new Set();
    this.everything = false;
    return out;
  }

  /** One node's view. */
  view(n: NodeRecord): NodeView {
    const r = this.swarm?.nodeReport(n.mac);
    const p = restoringPhases.has(n.phase) ? this.restoreProgress.get(n.mac) : undefined;
    const lag = this.lags.get(n.mac);
    return { ...n, ...(r ? { swarm: r } : {}), ...(p ? { restore: { written: p.written, total: p.total } } : {}), ...(lag ? { lag } : {}) };
  }

  /** The inventory (retired nodes only with `all`). */
  list(all = false): NodeView[] {
    return this.store.nodes.list({ all }).map((n) => this.view(n));
  }

  /** One page of the inventory in MAC order (see NodeRepo.listPage). */
  page(opts: { all?: boolean; after?: string | undefined; limit: number }): NodeView[] {
    return this.store.nodes.listPage(opts).map((n) => this.view(n));
  }

  /** The live view of node `mac`, or undefined when it is gone from the inventory (removed, or retired unless `all`). */
  current(mac: string, all = false): NodeView | undefined {
    const n = this.store.nodes.get(mac);
    return n && (all || !n.retired) ? this.view(n) : undefined;
  }
}

/** Phases in which restore progress means something. */
const restoringPhases = new Set<NodePhase>(['restoring', 'personalising']);
