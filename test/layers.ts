/**
 * The house's dependency rules (docs/architecture.md), checked over the
 * import graph of the checkout: which top-level room may import which.
 * Dependencies point down; the node never imports the server; product code
 * never imports a test. `layers.test.ts` runs the check in `npm test`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';

/** One rule: files of `from` (a path prefix) may import only the rooms in `allow`. */
export interface LayerRule {
  from: string;
  allow: readonly string[];
  why: string;
}

/**
 * The rooms from the bottom up. A file is ruled by the longest `from` that
 * is a prefix of its path; a room may always import itself.
 */
export const RULES: readonly LayerRule[] = [
  { from: 'core/', allow: [], why: 'the core imports nothing of the project' },
  { from: 'images/', allow: ['core/'], why: 'the image format imports only the core' },
  { from: 'netboot/', allow: ['core/'], why: 'the netboot protocols import only the core' },
  { from: 'torrent/', allow: ['core/'], why: 'the BitTorrent library imports only the core' },
  { from: 'contract/', allow: ['core/', 'images/'], why: 'the node/server contract sits on the core and the image format' },
  { from: 'initramfs-client/', allow: ['core/', 'images/', 'netboot/', 'torrent/', 'contract/'], why: 'the node never imports the server, the lab or a test' },
  { from: 'server/', allow: ['core/', 'images/', 'netboot/', 'torrent/', 'contract/'], why: 'the server application sits on the libraries; only its CLI drives the lab' },
  { from: 'server/console/web/', allow: ['core/', 'contract/report.ts'], why: 'the browser bundle takes only the core and the node phases from the rest' },
  { from: 'server/cli/', allow: ['core/', 'images/', 'netboot/', 'torrent/', 'contract/', 'server/', 'lab/'], why: 'the CLI is the top of the house: it may drive the lab' },
  { from: 'lab/', allow: ['core/', 'images/', 'netboot/', 'torrent/', 'contract/', 'server/', 'initramfs-client/'], why: 'the lab is product code: it never imports a test' },
  { from: 'bench/', allow: ['core/', 'images/', 'netboot/', 'torrent/', 'contract/', 'server/', 'initramfs-client/', 'lab/'], why: 'benches use the lab, never a test' },
];

/** A test or a test helper: free to import anything, and never importable by product code. */
export function isTestFile(path: string): boolean {
  return path.startsWith('test/') || /(^|\/)testdata\//.test(path) || /\.test\.tsx?$/.test(path);
}

/** The rule that governs `path` (the longest matching prefix), or undefined for files outside the rooms. */
export function ruleFor(path: string): LayerRule | undefined {
  let best: LayerRule | undefined;
  for (const r of RULES) if (path.startsWith(r.from) && (!best || r.from.length > best.from.length)) best = r;
  return best;
}

/** An import that breaks a rule. */
export interface Violation {
  from: string;
  to: string;
  why: string;
}

/** Check `edges` (importer → imported, repo-relative paths) against the rules. */
export function checkLayers(edges: ReadonlyArray<readonly [string, string]>): Violation[] {
  const out: Violation[] = [];
  for (const [from, to] of edges) {
    if (isTestFile(from)) continue;
    if (isTestFile(to)) {
      out.push({ from, to, why: 'product code never imports a test or a test helper' });
      continue;
    }
    const rule = ruleFor(from);
    if (!rule || to.startsWith(rule.from)) continue;
    if (!rule.allow.some((room) => to.startsWith(room))) out.push({ from, to, why: rule.why });
  }
  return out;
}

const SOURCE = /\.(ts|tsx|mts|mjs)$/;
const SKIP = new Set(['node_modules', '.git', 'dist', 'var', '.cache']);

/** Every source file under `root`, repo-relative. */
export function sourceFiles(root: string, dir = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...sourceFiles(root, rel));
    else if (SOURCE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The project-internal imports of every source file (static, dynamic and re-exports), as TypeScript reads them. */
export function importEdges(root: string): Array<[string, string]> {
  const edges: Array<[string, string]> = [];
  for (const file of sourceFiles(root)) {
    const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const to = relative(root, normalize(join(root, dirname(file), fileName)));
      if (!to.startsWith('..')) edges.push([file, to]);
    }
  }
  return edges;
}
