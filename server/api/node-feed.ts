/**
 * The node part of the live feed, sized for thousands of nodes. A console
 * gets the whole list once (`nodes`) and then, once per tick, only the nodes
 * whose view changed (`nodes-delta`): a report from one node costs that
 * node's bytes, not the inventory's. Every report in a tick is coalesced
 * into one frame. All nodes are compared when a change named no node, when
 * many did, and every `fullEvery` ticks, for what changes without a report
 * (a swarm report going stale, a DHCP sighting's address or last-seen time).
 * A frame carries at most `maxPerTick` nodes; the others go in the next
 * ticks, so a console's cost stays bounded however many nodes report at
 * once (nodes report every 2 s: past about 4 × maxPerTick downloading nodes
 * a row is refreshed less often, never dropped).
 */
import type { NodeViews } from './node-view.ts';

/** One tick's worth of changes, ready to send. */
export interface NodeDelta {
  /** The frame's JSON: `{"changed":[NodeView…],"removed":[mac…]}`. */
  json: string;
  changed: number;
  removed: number;
}

/** What every connected console has of the node list, and the changes since. */
export class NodeFeed {
  /** MAC → the JSON of the view every console has. */
  private readonly sent = new Map<string, string>();
  private readonly views: NodeViews;
  private readonly fullEvery: number;
  private readonly maxPerTick: number;
  private ticks = 0;

  constructor(views: NodeViews, opts: { fullEvery?: number; maxPerTick?: number } = {}) {
    this.views = views;
    this.fullEvery = opts.fullEvery ?? 10;
    this.maxPerTick = opts.maxPerTick ?? 500;
  }

  /**
   * The changes since the last call (all nodes compared when `full`), at most `cap` of them (maxPerTick;
   * a console that connects needs them all), or undefined when there are none.
   */
  delta(full = false, cap = this.maxPerTick): NodeDelta | undefined {
    const touched = this.views.takeChanged();
    this.ticks++;
    const changed: string[] = [];
    const removed: string[] = [];
    const compare = (mac: string, json: string | undefined) => {
      if (json === undefined) {
        if (this.sent.delete(mac)) removed.push(mac);
      } else if (this.sent.get(mac) !== json) {
        // Over this tick's budget: marked changed again, so the next tick compares and sends it.
        if (changed.length >= cap) return this.views.touch(mac);
        this.sent.set(mac, json);
        changed.push(json);
      }
    };
    // Past a quarter of the list, one query for all is cheaper than a query per node.
    if (full || touched === 'all' || touched.length * 4 > this.sent.size || this.ticks % this.fullEvery === 0) {
      const present = new Set<string>();
      for (const v of this.views.list()) {
        present.add(v.mac);
        compare(v.mac, JSON.stringify(v));
      }
      for (const mac of [...this.sent.keys()]) if (!present.has(mac)) compare(mac, undefined);
    } else {
      for (const mac of touched) {
        const v = this.views.current(mac);
        compare(mac, v && JSON.stringify(v));
      }
    }
    if (!changed.length && !removed.length) return undefined;
    return { json: `{"changed":[${changed.join(',')}],"removed":${JSON.stringify(removed)}}`, changed: changed.length, removed: removed.length };
  }

  /** The whole list as consoles have it, as a JSON array (call delta(true) first to bring it up to date). */
  snapshot(): string {
    return `[${[...this.sent.values()].join(',')}]`;
  }
}
