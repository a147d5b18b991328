/**
 * Structure-aware mutation of JSON texts (meta.json, manifest lines, deploy
 * plans): parse, change one value somewhere in the tree (another type, a
 * boundary number, a hostile string, a deleted or added key, deep nesting),
 * print again. Falls back to the input when it isn't JSON.
 */
import type { Rng } from '../mutators.ts';

/** Values that break validators: wrong types, boundaries, hostile strings. */
const VALUES: ReadonlyArray<(rng: Rng) => unknown> = [
  () => null, () => true, () => 0, () => -1, () => 1.5, () => 2 ** 53, () => 2 ** 64, () => -(2 ** 63), () => 1e308, () => '', () => '0',
  () => '-1', () => 'x'.repeat(300), () => '../../etc/passwd', () => '/abs', () => 'a\u0000b', () => '\ud800', () => 'é', () => '${x}',
  () => [], () => ({}), () => JSON.parse('{"__proto__":{"polluted":1}}') as unknown, () => [[[[[[]]]]]], () => 'YWJj', () => 'f'.repeat(64), () => '9'.repeat(40),
  (rng) => rng.pick(['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'socket', 'gpt', 'uefi', 'ed25519', 'image.tar.zst', 'info.bencode']),
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function pickPath(root: Json, rng: Rng): Array<string | number> {
  const path: Array<string | number> = [];
  let cur = root;
  while (cur !== null && typeof cur === 'object' && rng.chance(0.75)) {
    const keys = Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur);
    if (keys.length === 0) break;
    const k = rng.pick<string | number>(keys);
    path.push(k);
    cur = (cur as Record<string | number, Json>)[k] as Json;
  }
  return path;
}

/** One structural change to a JSON text. */
export function mutateJson(text: Buffer, rng: Rng): Buffer {
  let root: Json;
  try {
    root = JSON.parse(text.toString('utf8')) as Json;
  } catch {
    return text;
  }
  const path = pickPath(root, rng);
  const value = rng.pick(VALUES)(rng) as Json;
  if (path.length === 0) {
    const depth = rng.pick([100, 1000, 5000]);
    if (rng.chance(0.1)) return Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`); // deep nesting
    if (root !== null && typeof root === 'object' && !Array.isArray(root)) root[rng.pick(['extra', '__proto__', 'constructor', 'name'])] = value;
    else root = value;
  } else {
    const parent = path.slice(0, -1).reduce<Json>((o, k) => (o as Record<string | number, Json>)[k] as Json, root) as Record<string | number, Json>;
    const last = path[path.length - 1]!;
    const op = rng.below(4);
    if (op === 0 && !Array.isArray(parent)) delete parent[last];
    else if (op === 1 && Array.isArray(parent)) parent.splice(Number(last), 0, value);
    else if (op === 2 && typeof parent[last] === 'number') parent[last] = rng.pick([0, -1, 2 ** 31, 2 ** 32, 2 ** 53 + 2, 0.5, -0]);
    else parent[last] = value;
  }
  try {
    return Buffer.from(JSON.stringify(root) ?? 'null');
  } catch {
    return text; // nested too deep for JSON.stringify after repeated mutations
  }
}
