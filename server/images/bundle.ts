/**
 * Single-file bundles of one image version, for moving an image between
 * servers: a plain (uncompressed) tar holding `meta.json` first, then the
 * manifest and `image.tar.zst` (already compressed). Import accepts only
 * those names, only regular files, and publishes through the store, so a
 * truncated or tampered bundle leaves nothing behind.
 */
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import tar from 'tar-stream';
import { imageMetaSchema, type ImageMeta } from '../../images/meta.ts';
import { verifyImage } from '../../images/verify.ts';
import { ImgsrvError } from '../../core/errors.ts';
import { validateImageName } from '../../images/names.ts';
import type { ImageStore } from './store.ts';

/** Files of a version directory, meta.json first (import needs it to know the manifest's name). */
function bundleFiles(meta: ImageMeta): string[] {
  return ['meta.json', meta.manifest.file, ...(meta.torrent ? [meta.torrent.file] : []), meta.artifact.file];
}

/** Stream NAME@VERSION as a bundle into `out`. */
export async function exportBundle(store: ImageStore, name: string, version: number, out: Writable): Promise<void> {
  const meta = store.meta(name, version);
  const dir = store.dir(name, version);
  const pack = tar.pack();
  const done = pipeline(pack, out);
  for (const file of bundleFiles(meta)) {
    const path = join(dir, file);
    const st = statSync(path);
    const entry = pack.entry({ name: file, size: st.size, mode: 0o644, mtime: st.mtime, type: 'file' });
    await pipeline(createReadStream(path), entry);
  }
  pack.finalize();
  await done;
}

/** Result of an import. */
export interface ImportResult {
  meta: ImageMeta;
  /** Whether the bundle's own version number was free and kept. */
  keptVersion: boolean;
}

/**
 * Read a bundle from `input` and publish it as `name` (default: the name in
 * its meta): its own version when free, else the next one. The artifact is
 * verified against the manifest and meta before it becomes visible.
 */
export async function importBundle(store: ImageStore, input: Readable, opts: { name?: string | undefined } = {}): Promise<ImportResult> {
  const incoming = store.incomingDir();
  try {
    const meta = await extract(input, incoming);
    const name = validateImageName(opts.name ?? meta.name);
    const check = await verifyImage(incoming);
    if (!check.ok) {
      throw new ImgsrvError('IMAGE_INVALID', `the bundle does not verify: ${check.problems[0] ?? 'unknown problem'}${check.problems.length > 1 ? ` (and ${check.problems.length - 1} more)` : ''}`, {
        hint: 'export it again from the source server; the file may be truncated or damaged',
      });
    }
    const { name: _n, version: _v, ...draft } = meta;
    const published = await store.build(
      name,
      async (dir) => {
        for (const f of bundleFiles(meta).slice(1)) await rename(join(incoming, f), join(dir, f));
        return draft;
      },
      { prefer: meta.version },
    );
    return { meta: published, keptVersion: published.version === meta.version };
  } finally {
    await rm(incoming, { recursive: true, force: true });
  }
}

/** Unpack the bundle's three files into `dir`, refusing anything else. */
async function extract(input: Readable, dir: string): Promise<ImageMeta> {
  try {
    return await extractEntries(input, dir);
  } catch (err) {
    if (err instanceof ImgsrvError) throw err;
    throw new ImgsrvError('IMAGE_INVALID', `not a readable image bundle: ${(err as Error).message}`, {
      hint: 'the file is truncated or damaged: export it again',
      cause: err,
    });
  }
}

async function extractEntries(input: Readable, dir: string): Promise<ImageMeta> {
  const ex = tar.extract();
  let meta: ImageMeta | undefined;
  const seen = new Set<string>();
  const bad = (what: string) =>
    new ImgsrvError('IMAGE_INVALID', `not an imgsrv image bundle: ${what}`, { hint: 'pass a file written by `imgsrv images export`' });
  const feeding = pipeline(input, ex).catch((err: unknown) => {
    ex.destroy(err as Error);
  });
  for await (const entry of ex) {
    const name = entry.header.name;
    if (entry.header.type !== 'file') throw bad(`entry "${name.slice(0, 80)}" is not a regular file`);
    if (seen.has(name)) throw bad(`"${name.slice(0, 80)}" appears twice`);
    seen.add(name);
    if (!meta) {
      if (name !== 'meta.json') throw bad('it does not start with meta.json');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of entry as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > 16 << 20) throw bad('meta.json is too large');
        chunks.push(c);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        throw bad('meta.json is not JSON');
      }
      const res = imageMetaSchema.safeParse(parsed);
      if (!res.success) throw bad(`meta.json: ${res.error.issues[0]?.path.join('.')}: ${res.error.issues[0]?.message}`);
      meta = res.data;
      // The manifest's name comes from the bundle: it must be a plain file name.
      if (!/^[A-Za-z0-9._-]{1,100}$/.test(meta.manifest.file) || meta.manifest.file.startsWith('.') || meta.manifest.file === 'meta.json') {
        throw bad('meta.json names an unusable manifest file');
      }
      await writeFile(join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
      continue;
    }
    if (!bundleFiles(meta).slice(1).includes(name)) throw bad(`unexpected entry "${name.slice(0, 80)}"`);
    await pipeline(entry, createWriteStream(join(dir, name), { flags: 'wx', mode: 0o644 }));
  }
  await feeding;
  if (!meta) throw bad('it is empty');
  for (const f of bundleFiles(meta)) if (!seen.has(f)) throw bad(`${f} is missing (truncated file?)`);
  return meta;
}
