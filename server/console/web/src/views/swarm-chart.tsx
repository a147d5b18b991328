/** The swarm chart: cumulative bytes served by the server vs by peers over time, as inline SVG. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { bytes, clock } from '../format.ts';
import type { SwarmSample } from '../types.ts';

const PAD = { left: 84, right: 16, top: 16, bottom: 40 };

/** The width of an element's box in CSS pixels, following resizes (so chart text keeps its size on a phone). */
function useWidth(fallback: number): [(el: HTMLElement | null) => void, number] {
  const [el, setEl] = useState<HTMLElement | null>(null);
  const [width, setWidth] = useState(fallback);
  const seen = useRef(0);
  useEffect(() => {
    if (!el) return;
    const ro = new ResizeObserver(([entry]) => {
      const w = Math.round(entry?.contentRect.width ?? 0);
      if (w > 0 && w !== seen.current) setWidth((seen.current = w));
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [el]);
  return [setEl, width];
}

/** A "nice" axis step (1, 2 or 5 × 10^k) giving about `count` ticks up to `max`. */
export function niceStep(max: number, count: number): number {
  if (max <= 0) return 1;
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

/** Stacked areas: the server's bytes at the bottom, the peers' on top, so the top edge is everything delivered. */
export function SwarmChart({ samples }: { samples: SwarmSample[] }) {
  const [ref, W] = useWidth(720);
  const H = Math.round(Math.min(320, Math.max(200, W * 0.45)));
  if (samples.length < 2) {
    return <p class="muted chart-empty">No transfer yet: the chart starts when nodes download an image.</p>;
  }
  const t0 = samples[0]!.at;
  const t1 = Math.max(samples[samples.length - 1]!.at, t0 + 1);
  const yMax = Math.max(1, ...samples.map((s) => s.server + s.peers));
  const step = niceStep(yMax, 4);
  const yTop = Math.ceil(yMax / step) * step;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * iw;
  const y = (v: number) => PAD.top + ih - (v / yTop) * ih;
  const line = (f: (s: SwarmSample) => number) => samples.map((s, i) => `${i ? 'L' : 'M'}${x(s.at).toFixed(1)},${y(f(s)).toFixed(1)}`).join('');
  const base = `L${x(t1).toFixed(1)},${y(0)}L${x(t0).toFixed(1)},${y(0)}Z`;
  const serverTop = line((s) => s.server);
  const totalTop = line((s) => s.server + s.peers);
  // The peers' band: along the total from left to right, back along the server line from right to left.
  const back = [...samples].reverse().map((s) => `L${x(s.at).toFixed(1)},${y(s.server).toFixed(1)}`).join('');
  const yTicks = Array.from({ length: Math.round(yTop / step) + 1 }, (_, i) => i * step);
  const xCount = W < 480 ? 2 : 4;
  const xTicks = Array.from({ length: xCount + 1 }, (_, i) => t0 + ((t1 - t0) * i) / xCount);
  const last = samples[samples.length - 1]!;

  return (
    <figure class="chart" ref={ref}>
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-labelledby="chart-title chart-desc" class="swarm-chart">
        <title id="chart-title">Bytes served by the server and by peers over time</title>
        <desc id="chart-desc">
          {`Cumulative: server ${bytes(last.server)}, peers ${bytes(last.peers)}, from ${clock(t0)} to ${clock(t1)}.`}
        </desc>
        {yTicks.map((v) => (
          <g key={v} class="tick">
            <line x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} class="grid" />
            <text x={PAD.left - 8} y={y(v) + 4} text-anchor="end">
              {bytes(v)}
            </text>
          </g>
        ))}
        {xTicks.map((t, i) => (
          <text key={t} class="tick" x={x(t)} y={H - PAD.bottom + 18} text-anchor={i === 0 ? 'start' : i === xTicks.length - 1 ? 'end' : 'middle'}>
            {clock(t)}
          </text>
        ))}
        <path d={`${serverTop}${base}`} class="area-server" />
        <path d={`${totalTop}${back}Z`} class="area-peers" />
        <path d={serverTop} class="line-server" fill="none" />
        <path d={totalTop} class="line-peers" fill="none" />
        <line x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={y(0)} class="axis" />
        <line x1={PAD.left} x2={W - PAD.right} y1={y(0)} y2={y(0)} class="axis" />
        <text x={PAD.left + iw / 2} y={H - 6} text-anchor="middle" class="axis-label">
          time
        </text>
        <text x={14} y={PAD.top + ih / 2} text-anchor="middle" class="axis-label" transform={`rotate(-90 14 ${PAD.top + ih / 2})`}>
          bytes delivered (cumulative)
        </text>
      </svg>
      <figcaption>
        <ul class="legend">
          <li>
            <span class="swatch server" aria-hidden="true" /> Served by the server
          </li>
          <li>
            <span class="swatch peers" aria-hidden="true" /> Served by peers (nodes to nodes)
          </li>
        </ul>
      </figcaption>
    </figure>
  );
}
