/** Filtering and sorting of the node list (pure: the nodes view and its tests use it). */
import { NODE_PHASES } from '../../../../../contract/report.ts';
import type { NodeView, Phase } from '../types.ts';

/** What the operator filters by; '' = any. `group` '-' = in no group; `image` matches the override or the installed image. */
export interface NodeFilter {
  text: string;
  phase: Phase | '';
  group: string;
  image: string;
}

export const NO_FILTER: NodeFilter = { text: '', phase: '', group: '', image: '' };

/** The sortable columns. */
export type SortKey = 'mac' | 'firmware' | 'ip' | 'hostname' | 'group' | 'image' | 'phase' | 'progress' | 'lastSeen';
export interface NodeSort {
  key: SortKey;
  dir: 'asc' | 'desc';
}

/** The image a node is shown with: its override, else what it installs or installed. */
export const shownImage = (n: NodeView): string | null => n.image ?? n.installedImage;

/** The nodes that pass `f`. Text matches MAC, IP, hostname, group, image, phase and error, case-insensitively. */
export function filterNodes(nodes: NodeView[], f: NodeFilter): NodeView[] {
  const words = f.text.toLowerCase().split(/\s+/).filter(Boolean);
  return nodes.filter((n) => {
    if (f.phase && n.phase !== f.phase) return false;
    if (f.group && (f.group === '-' ? n.group !== null : n.group !== f.group)) return false;
    if (f.image && n.image !== f.image && n.installedImage !== f.image) return false;
    if (!words.length) return true;
    const hay = [n.mac, n.ip, n.hostname, n.group, n.image, n.installedImage, n.phase, n.firmware, n.error].filter(Boolean).join(' ').toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

const PHASE_RANK = new Map(NODE_PHASES.map((p, i) => [p, i]));
/** Dotted-quad as a number, so 10.0.0.9 sorts before 10.0.0.10. */
const ipRank = (ip: string | null) => (ip ? ip.split('.').reduce((a, o) => a * 256 + Number(o), 0) : -1);
const progressOf = (n: NodeView) => (n.phase === 'downloading' ? (n.swarm?.progress ?? 0) : n.phase === 'restoring' && n.restore?.total ? n.restore.written / n.restore.total : 0);

/** A copy of `nodes` sorted by `s` (nulls last either way, then by MAC so the order is stable). */
export function sortNodes(nodes: NodeView[], s: NodeSort): NodeView[] {
  const key = (n: NodeView): string | number | null => {
    switch (s.key) {
      case 'ip':
        return n.ip ? ipRank(n.ip) : null;
      case 'phase':
        return PHASE_RANK.get(n.phase) ?? 0;
      case 'progress':
        return progressOf(n);
      case 'lastSeen':
        return n.lastSeen;
      case 'image':
        return shownImage(n);
      default:
        return n[s.key];
    }
  };
  const sign = s.dir === 'asc' ? 1 : -1;
  const keyed = nodes.map((n) => [key(n), n] as const);
  keyed.sort(([a, na], [b, nb]) => {
    if (a === null || b === null) return a === b ? na.mac.localeCompare(nb.mac) : a === null ? 1 : -1;
    const c = typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b), undefined, { numeric: true });
    return c !== 0 ? c * sign : na.mac.localeCompare(nb.mac);
  });
  return keyed.map(([, n]) => n);
}
