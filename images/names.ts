/** Image names, references (`NAME`, `NAME@VERSION`) and version numbering. Pure. */
import { ImgsrvError } from '../core/errors.ts';

/** Image names: they become directory names under <data>/images and <data>/staging. */
export const IMAGE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** Validate an image name (it names directories on the server). */
export function validateImageName(raw: string): string {
  if (IMAGE_NAME.test(raw) && !raw.includes('..')) return raw;
  throw new ImgsrvError('BAD_USAGE', `"${JSON.stringify(raw).slice(1, -1).slice(0, 200)}" is not a valid image name`, {
    hint: 'use lowercase letters, digits, ".", "_" and "-" (at most 63), starting with a letter or digit',
  });
}

/** A parsed `NAME[@VERSION]`. */
export interface ImageRef {
  name: string;
  version?: number | undefined;
}

/** Parse `NAME` or `NAME@VERSION`; `requireVersion` makes the version mandatory. */
export function parseImageRef(raw: string, opts: { requireVersion?: boolean } = {}): ImageRef {
  const m = /^([^@]+)(?:@(\d{1,9}))?$/.exec(raw);
  if (!m || !IMAGE_NAME.test(m[1]!) || m[1]!.includes('..')) {
    throw new ImgsrvError('BAD_USAGE', `"${raw.slice(0, 100)}" is not an image reference`, { hint: 'use NAME@VERSION, e.g. web@3 (see `imgsrv images ls`)' });
  }
  const version = m[2] === undefined ? undefined : Number(m[2]);
  if (version === 0) throw new ImgsrvError('BAD_USAGE', 'image versions start at 1', { hint: 'see `imgsrv images ls`' });
  if (opts.requireVersion && version === undefined) {
    throw new ImgsrvError('BAD_USAGE', `"${raw}" names no version`, { hint: `use ${m[1]}@VERSION (see \`imgsrv images ls\`)` });
  }
  return { name: m[1]!, version };
}

/** A version directory name is a positive decimal integer without leading zeros. */
export function isVersionDir(name: string): boolean {
  return /^[1-9]\d{0,8}$/.test(name);
}

/** The next version: one more than the highest ever published (existing ones, and `floor` = the last known). */
export function nextVersion(existing: Iterable<number>, floor = 0): number {
  let max = floor;
  for (const v of existing) if (v > max) max = v;
  return max + 1;
}
