/**
 * The console's live feed: one Server-Sent Events stream (GET /api/v1/live)
 * carrying the node list (whole once, then per tick only the nodes that
 * changed: node-feed.ts), the event log, the swarm totals, captures and
 * images as they change. One hub computes each view once per tick for every
 * connected console, and samples the swarm history (bytes the server served
 * against bytes the nodes served each other) whether or not anyone watches.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../store/db.ts';
import type { EventRecord } from '../store/events.ts';
import type { SwarmService, SwarmView } from '../swarm/service.ts';
import type { CaptureManager } from '../capture/manager.ts';
import type { NodeViews } from './node-view.ts';
import { NodeFeed, type NodeDelta } from './node-feed.ts';
import { requireAuth, type Auth } from './auth.ts';

/** One point of the swarm history: cumulative bytes uploaded by the server and by the nodes. */
export interface HistorySample {
  at: number;
  server: number;
  peers: number;
}

/** What the hub reads. */
export interface LiveHubDeps {
  store: Store;
  views: NodeViews;
  swarm?: SwarmService | undefined;
  captures?: CaptureManager | undefined;
  /** The image list as GET /images shows it. */
  images?: (() => unknown[]) | undefined;
  /** Tick periods (tests shorten them). */
  nodesMs?: number;
  swarmMs?: number;
}

const MAX_SAMPLES = 5000;

/** Fans the live views out to every connected console. */
export class LiveHub {
  readonly history: HistorySample[] = [];
  private readonly d: LiveHubDeps;
  private readonly clients = new Set<ServerResponse>();
  private readonly last = new Map<string, string>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Highest upload seen per node and torrent: a node's counter restarts with each torrent it joins. */
  private readonly peerUploads = new Map<string, number>();
  private readonly nodes: NodeFeed;
  private unsubscribe: (() => void) | undefined;

  constructor(d: LiveHubDeps) {
    this.d = d;
    this.nodes = new NodeFeed(d.views);
  }

  /** Start the ticks and the event-log subscription. */
  start(): void {
    this.unsubscribe = this.d.store.events.subscribe((ev) => this.onEvent(ev));
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(() => {
        try {
          fn();
        } catch {
          /* a view that fails to build this tick is tried again on the next */
        }
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.d.nodesMs ?? 500, () => this.tickNodes());
    every(this.d.swarmMs ?? 2000, () => this.tickSwarm());
    every(1000, () => this.tickCaptures());
    every(10_000, () => this.send('images', () => this.d.images?.()));
    every(15_000, () => this.broadcast(': keep-alive\n\n'));
  }

  /** End every stream and stop the ticks. */
  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.unsubscribe?.();
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  /** Attach a hijacked response as an SSE stream and send it the current state. */
  attach(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-content-type-options': 'nosniff' });
    res.write('retry: 3000\n\n');
    // The consoles already watching get what changed up to now, so the newcomer's list and theirs are the same.
    this.tickNodes(true, Infinity);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    res.write(`event: nodes\ndata: ${this.nodes.snapshot()}\n\n`);
    const first = (name: string, data: unknown) => data !== undefined && res.write(frame(name, data));
    first('captures', this.d.captures?.list());
    first('images', this.d.images?.());
    first('swarm', this.swarmFrame());
  }

  /** Connected consoles. */
  get size(): number {
    return this.clients.size;
  }

  private onEvent(ev: EventRecord): void {
    this.broadcast(frame('event', ev));
    if (ev.kind.startsWith('node.')) this.d.views.touch(ev.mac);
    if (ev.kind.startsWith('image.') || ev.kind === 'capture.done') this.send('images', () => this.d.images?.());
  }

  /** Send the nodes changed since the last tick as one `nodes-delta` frame (`full`: compare every node; `cap`: most nodes in it). */
  tickNodes(full = false, cap?: number): NodeDelta | undefined {
    if (!this.clients.size && !full) return undefined;
    const delta = this.nodes.delta(full, cap);
    if (delta && this.clients.size) this.broadcast(`event: nodes-delta\ndata: ${delta.json}\n\n`);
    return delta;
  }

  private tickCaptures(): void {
    this.send('captures', () => this.d.captures?.list());
  }

  private tickSwarm(): void {
    const f = this.swarmFrame();
    if (!f) return;
    const prev = this.history.at(-1);
    if (!prev || prev.server !== f.server || prev.peers !== f.peers || f.at - prev.at >= 30_000) {
      this.history.push({ at: f.at, server: f.server, peers: f.peers });
      if (this.history.length > MAX_SAMPLES) this.history.splice(0, this.history.length - MAX_SAMPLES);
    }
    if (this.clients.size) this.broadcast(frame('swarm', f));
  }

  /** Totals now, with every swarm's view (peer lists left out: the console doesn't show them). */
  private swarmFrame(): { at: number; server: number; peers: number; swarms: Array<Omit<SwarmView, 'peers'>> } | undefined {
    if (!this.d.swarm) return undefined;
    const swarms = this.d.swarm.list();
    let server = 0;
    for (const s of swarms) {
      server += s.server.uploaded;
      for (const n of s.nodes) {
        const key = `${n.mac} ${n.infoHash}`;
        this.peerUploads.set(key, Math.max(this.peerUploads.get(key) ?? 0, n.uploaded));
      }
    }
    let peers = 0;
    for (const v of this.peerUploads.values()) peers += v;
    return { at: Date.now(), server, peers, swarms: swarms.map(({ peers: _p, ...rest }) => rest) };
  }

  /** Build a view and send it to everyone, unless nobody watches or it is what they already have (a console that connects gets fresh views in attach). */
  private send(name: string, build: () => unknown): void {
    if (!this.clients.size) return;
    const data = build();
    if (data === undefined) return;
    const json = JSON.stringify(data);
    if (this.last.get(name) === json) return;
    this.last.set(name, json);
    this.broadcast(`event: ${name}\ndata: ${json}\n\n`);
  }

  private broadcast(text: string): void {
    for (const c of this.clients) c.write(text);
  }
}

function frame(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** GET /live (the SSE stream) and GET /swarm/history. */
export const liveRoutes: FastifyPluginAsync<{ auth: Auth; store: Store; hub: LiveHub }> = async (app, { auth, store, hub }) => {
  const admin = requireAuth(auth, ['admin']);
  app.get('/live', { onRequest: admin, schema: { summary: 'Server-Sent Events: nodes (the whole list, first), nodes-delta ({changed, removed} per tick), event, swarm, captures, images' } }, (req, reply) => {
    reply.hijack();
    hub.attach(reply.raw);
    req.log.debug({ consoles: hub.size }, 'live stream opened');
  });
  app.get('/swarm/history', { onRequest: admin, schema: { summary: 'Bytes served by the server and by the nodes over time (cumulative)' } }, async () => ({
    samples: hub.history,
  }));
};
