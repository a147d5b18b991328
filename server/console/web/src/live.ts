/** The live feed (GET /api/v1/live, server-sent events) as Preact state, reconnecting on its own. */
import { useEffect, useState } from 'preact/hooks';
import { currentSession } from './api.ts';
import type { CaptureView, ImageSummary, NodeView, SwarmEvent, SwarmSample } from './types.ts';

/** One entry of the event log. */
export interface LogEvent {
  id: number;
  at: number;
  kind: string;
  mac: string | null;
  message: string;
}

/** Everything the live feed carries; null until its first event. */
export interface LiveState {
  connected: boolean;
  nodes: NodeView[] | null;
  images: ImageSummary[] | null;
  captures: CaptureView[] | null;
  swarm: SwarmEvent | null;
  /** swarm samples seen since the page opened (the chart adds them to /swarm/history). */
  samples: SwarmSample[];
  events: LogEvent[];
}

const EMPTY: LiveState = { connected: false, nodes: null, images: null, captures: null, swarm: null, samples: [], events: [] };
const MAX_SAMPLES = 2000;
const MAX_EVENTS = 200;

/** Subscribe to the live feed while `enabled`; calls onSignedOut when the session is gone. */
export function useLive(enabled: boolean, onSignedOut: () => void): LiveState {
  const [state, setState] = useState<LiveState>(EMPTY);
  useEffect(() => {
    if (!enabled) return;
    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let delay = 1000;
    const parse = <T,>(e: Event): T | undefined => {
      try {
        return JSON.parse((e as MessageEvent<string>).data) as T;
      } catch {
        return undefined;
      }
    };
    const connect = () => {
      if (stopped) return;
      es = new EventSource('api/v1/live', { withCredentials: true });
      es.onopen = () => {
        delay = 1000;
        setState((s) => ({ ...s, connected: true }));
      };
      es.addEventListener('nodes', (e) => {
        const nodes = parse<NodeView[]>(e);
        if (nodes) setState((s) => ({ ...s, nodes }));
      });
      // Per tick only the nodes that changed (server/api/node-feed.ts): merged into the list by MAC.
      es.addEventListener('nodes-delta', (e) => {
        const delta = parse<{ changed: NodeView[]; removed: string[] }>(e);
        if (delta) setState((s) => ({ ...s, nodes: s.nodes && mergeNodes(s.nodes, delta.changed, delta.removed) }));
      });
      es.addEventListener('images', (e) => {
        const images = parse<ImageSummary[]>(e);
        if (images) setState((s) => ({ ...s, images }));
      });
      es.addEventListener('captures', (e) => {
        const captures = parse<CaptureView[]>(e);
        if (captures) setState((s) => ({ ...s, captures }));
      });
      es.addEventListener('swarm', (e) => {
        const swarm = parse<SwarmEvent>(e);
        if (swarm) setState((s) => ({ ...s, swarm, samples: [...s.samples, { at: swarm.at, server: swarm.server, peers: swarm.peers }].slice(-MAX_SAMPLES) }));
      });
      es.addEventListener('event', (e) => {
        const ev = parse<LogEvent>(e);
        if (ev) setState((s) => ({ ...s, events: [ev, ...s.events].slice(0, MAX_EVENTS) }));
      });
      es.onerror = () => {
        setState((s) => ({ ...s, connected: false }));
        // EventSource retries by itself after a dropped connection, but gives up for good on an
        // HTTP error (401 when the session expired): then ask whether we are still signed in.
        if (es?.readyState !== EventSource.CLOSED) return;
        es = null;
        void currentSession()
          .then((session) => {
            if (stopped) return;
            if (!session) onSignedOut();
            else timer = setTimeout(connect, delay);
          })
          .catch(() => {
            if (!stopped) timer = setTimeout(connect, delay);
          });
        delay = Math.min(delay * 2, 15_000);
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      es?.close();
      setState(EMPTY);
    };
  }, [enabled]);
  return state;
}

/** `nodes` with `changed` replacing (or joining) the nodes of their MAC and `removed` left out; unchanged nodes keep their objects. */
export function mergeNodes(nodes: NodeView[], changed: NodeView[], removed: string[]): NodeView[] {
  const byMac = new Map(changed.map((n) => [n.mac, n]));
  const gone = new Set(removed);
  const out: NodeView[] = [];
  for (const n of nodes) {
    if (gone.has(n.mac)) continue;
    const c = byMac.get(n.mac);
    out.push(c ?? n);
    byMac.delete(n.mac);
  }
  out.push(...byMac.values());
  return out;
}
