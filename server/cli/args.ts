/** Parsing of command arguments shared by the editing commands (nodes, groups, settings). */
import { ImgsrvError } from '../errors.ts';
import { normalizeMac } from '../store/nodes.ts';

/** "-" means "clear this field" (null: inherit the group's or the global setting); anything else is the value. */
export function clearable(raw: string): string | null {
  return raw === '-' ? null : raw;
}

/** A MAC in the canonical aa:bb:cc:dd:ee:ff form, or BAD_USAGE. */
export function parseMac(raw: string): string {
  const m = normalizeMac(raw);
  if (!m) throw new ImgsrvError('BAD_USAGE', `"${raw}" is not a MAC address`, { hint: 'use the form aa:bb:cc:dd:ee:ff' });
  return m;
}

/** A comma-separated list ("/data,/srv"), trimmed, empty items dropped; "-" clears it (null). */
export function clearableList(raw: string): string[] | null {
  if (raw === '-') return null;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
