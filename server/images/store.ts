/**
 * The image store: `<data>/images/<name>/<version>/` holding `image.tar.zst`,
 * its manifest and `meta.json`. A version is built in a hidden
 * `.partial-<version>-<random>` directory next to the versions and becomes
 * visible with one rename(2), so a reader sees a whole version or none; a
 * failed build removes its partial directory and leaves other versions as
 * they were. The file system is the catalogue: no table to go out of sync.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { imageMetaSchema, type ImageMeta } from '../../images/meta.ts';
import type { ImageSignature } from '../../images/signing.ts';
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { validateImageName } from '../../images/names.ts';
import type { ImageLocks } from './locks.ts';
import { isVersionDir, nextVersion } from '../../images/names.ts';

/** One published version as `images ls --json` shows it (stable field names). */
export interface ImageSummary {
  name: string;
  version: number;
  /** Raw (unpacked) bytes. */
  size: number;
  compressedSize: number;
  sha256: string;
  files: number;
  sourceHost: string;
  createdAt: string;
  zstdLevel: number;
  inUse: boolean;
  /** The key id that signed this version (meta.sig), or null when it is unsigned. */
  signedBy: string | null;
}

/** What a builder hands back: the meta without name and version, which the store assigns. */
export type MetaDraft = Omit<ImageMeta, 'name' | 'version'>;

const PARTIAL = /^\.(partial|deleting)-/;

/** The store over one `<data>/images` directory. */
export class ImageStore {
  readonly root: string;
  private readonly locks: ImageLocks;
  private readonly log: Logger;
  /** Highest version handed out per name in this process, so a removed latest version's number is not reused while we run. */
  private readonly issued = new Map<string, number>();

  private readonly signer: { sign(meta: ImageMeta): ImageSignature | undefined } | undefined;

  /** `signer`, when given and configured, signs every version as it is published (meta.sig). */
  constructor(opts: { root: string; locks: ImageLocks; logger: Logger; signer?: { sign(meta: ImageMeta): ImageSignature | undefined } }) {
    this.root = opts.root;
    this.locks = opts.locks;
    this.log = opts.logger;
    this.signer = opts.signer;
    mkdirSync(this.root, { recursive: true, mode: 0o755 });
  }

  /** Directory of NAME@VERSION (whether or not it exists). */
  dir(name: string, version: number): string {
    return join(this.root, validateImageName(name), String(version));
  }

  /** Published versions of `name`, ascending. */
  versions(name: string): number[] {
    const d = join(this.root, validateImageName(name));
    if (!existsSync(d)) return [];
    return readdirSync(d)
      .filter(isVersionDir)
      .filter((v) => existsSync(join(d, v, 'meta.json')))
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Image names with at least one version. */
  names(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .filter((n) => !n.startsWith('.'))
      .filter((n) => this.versions(n).length > 0)
      .sort();
  }

  /** Read and validate one version's meta.json; throws NOT_FOUND / IMAGE_INVALID. */
  meta(name: string, version?: number): ImageMeta {
    const v = version ?? this.versions(name).at(-1);
    if (v === undefined) throw notFound(name);
    const file = join(this.dir(name, v), 'meta.json');
    if (!existsSync(file)) throw notFound(`${name}@${v}`);
    const parsed = imageMetaSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) {
      throw new ImgsrvError('IMAGE_INVALID', `${name}@${v} has an invalid meta.json: ${parsed.error.issues[0]?.message ?? 'unknown problem'}`, {
        hint: `remove it with \`imgsrv images rm ${name}@${v}\` and capture again`,
      });
    }
    return parsed.data;
  }

  /** Summaries of every version (or one image's), sorted by name then version. Unreadable versions are logged and skipped. */
  list(name?: string): ImageSummary[] {
    const out: ImageSummary[] = [];
    for (const n of name ? [validateImageName(name)] : this.names()) {
      for (const v of this.versions(n)) {
        try {
          out.push(this.summarize(this.meta(n, v)));
        } catch (err) {
          this.log.warn({ err, image: `${n}@${v}` }, 'skipping unreadable image version');
        }
      }
    }
    return out;
  }

  /** The summary row of a meta. */
  summarize(m: ImageMeta): ImageSummary {
    return {
      name: m.name,
      version: m.version,
      size: m.artifact.rawBytes,
      compressedSize: m.artifact.compressedBytes,
      sha256: m.artifact.sha256,
      files: m.artifact.files,
      sourceHost: m.sourceHost,
      createdAt: m.createdAt,
      zstdLevel: m.artifact.zstdLevel,
      inUse: this.locks.holders(m.name, m.version).length > 0,
      signedBy: this.signature(m.name, m.version)?.keyId ?? null,
    };
  }

  /** The version's signature (meta.sig), or null when it is unsigned or the file is unreadable. */
  signature(name: string, version: number): ImageSignature | null {
    try {
      const s = JSON.parse(readFileSync(join(this.dir(name, version), 'meta.sig'), 'utf8')) as ImageSignature;
      return s && s.alg === 'ed25519' && typeof s.keyId === 'string' && typeof s.sig === 'string' ? s : null;
    } catch {
      return null;
    }
  }

  /** Sign (or sign again) a published version with the store's signer; NOT_FOUND / BAD_CONFIG when there is nothing to sign with. */
  sign(name: string, version: number): ImageSignature {
    const meta = this.meta(name, version);
    const signature = this.signer?.sign(meta);
    if (!signature) throw new ImgsrvError('BAD_CONFIG', 'no signing key is configured', { hint: 'make one with `imgsrv keys generate`' });
    const file = join(this.dir(name, version), 'meta.sig');
    writeDurably(`${file}.tmp`, JSON.stringify(signature) + '\n');
    renameSync(`${file}.tmp`, file);
    this.log.info({ image: `${name}@${version}`, keyId: signature.keyId }, 'image version signed');
    return signature;
  }

  /**
   * Build a new version of `name`: `build` fills a fresh partial directory
   * and returns the meta draft; the store then writes meta.json and
   * publishes with one rename. Any throw (or abort) removes the partial
   * directory; nothing becomes visible. `prefer` asks for a version number
   * (import keeps the exported one when it is free).
   */
  async build(name: string, build: (dir: string, plannedVersion: number) => Promise<MetaDraft>, opts: { prefer?: number } = {}): Promise<ImageMeta> {
    const base = join(this.root, validateImageName(name));
    mkdirSync(base, { recursive: true, mode: 0o755 });
    const planned = this.pickVersion(name, opts.prefer);
    const partial = join(base, `.partial-${planned}-${randomBytes(6).toString('hex')}`);
    mkdirSync(partial, { mode: 0o755 });
    try {
      const draft = await build(partial, planned);
      return this.publish(name, partial, draft, opts.prefer);
    } catch (err) {
      await rm(partial, { recursive: true, force: true }).catch((e: unknown) => this.log.error({ err: e, partial }, 'cannot remove partial image'));
      throw err;
    }
  }

  /** Write meta.json into `partial` and rename it to its version directory. Synchronous, so no other publish interleaves. */
  private publish(name: string, partial: string, draft: MetaDraft, prefer?: number): ImageMeta {
    for (let attempt = 0; attempt < 5; attempt++) {
      const version = this.pickVersion(name, prefer);
      const meta = imageMetaSchema.parse({ ...draft, name, version });
      writeDurably(join(partial, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
      const signature = this.signer?.sign(meta);
      if (signature) writeDurably(join(partial, 'meta.sig'), JSON.stringify(signature) + '\n');
      const target = this.dir(name, version);
      try {
        renameSync(partial, target);
      } catch (err) {
        // Someone published that number first (rename onto a non-empty directory fails): take the next.
        if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') {
          prefer = undefined;
          continue;
        }
        throw err;
      }
      this.issued.set(name, Math.max(this.issued.get(name) ?? 0, version));
      fsyncDir(join(this.root, name));
      this.log.info({ image: `${name}@${version}`, bytes: meta.artifact.rawBytes }, 'image version published');
      return meta;
    }
    throw new ImgsrvError('CONFLICT', `could not find a free version number for ${name}`, { hint: 'retry' });
  }

  private pickVersion(name: string, prefer?: number): number {
    const existing = this.versions(name);
    if (prefer !== undefined && !existing.includes(prefer) && !existsSync(this.dir(name, prefer))) return prefer;
    return nextVersion(existing, this.issued.get(name) ?? 0);
  }

  /** Remove NAME@VERSION; refuses (CONFLICT) while a deployment holds it. Rename first, so it vanishes atomically. */
  async remove(name: string, version: number): Promise<void> {
    if (!this.versions(name).includes(version)) throw notFound(`${name}@${version}`);
    const holders = this.locks.holders(name, version);
    if (holders.length) {
      throw new ImgsrvError('CONFLICT', `${name}@${version} is in use by ${holders.map((h) => h.holder).join(', ')}`, {
        hint: 'wait for the deployment to finish (or cancel it), then remove the image',
      });
    }
    const doomed = join(this.root, name, `.deleting-${version}-${randomBytes(6).toString('hex')}`);
    renameSync(this.dir(name, version), doomed);
    fsyncDir(join(this.root, name));
    await rm(doomed, { recursive: true, force: true });
    this.log.info({ image: `${name}@${version}` }, 'image version removed');
  }

  /** A fresh hidden directory for an import in progress (swept at start if we crash). */
  incomingDir(): string {
    const d = join(this.root, `.incoming-${randomBytes(6).toString('hex')}`);
    mkdirSync(d, { mode: 0o755 });
    return d;
  }

  /** Remove partial and half-deleted directories left by a crash; run at server start, before any capture. */
  sweepPartials(): string[] {
    const swept: string[] = [];
    if (!existsSync(this.root)) return swept;
    for (const n of readdirSync(this.root)) {
      if (n.startsWith('.incoming-')) {
        rmSync(join(this.root, n), { recursive: true, force: true });
        swept.push(n);
        continue;
      }
      const d = join(this.root, n);
      let entries: string[];
      try {
        entries = readdirSync(d);
      } catch {
        continue;
      }
      for (const e of entries.filter((x) => PARTIAL.test(x))) {
        rmSync(join(d, e), { recursive: true, force: true });
        swept.push(join(n, e));
      }
    }
    if (swept.length) this.log.warn({ swept }, 'removed unfinished image versions left by an earlier run');
    return swept;
  }
}

function notFound(what: string): ImgsrvError {
  return new ImgsrvError('NOT_FOUND', `no image ${what}`, { hint: 'see `imgsrv images ls`' });
}

/** Write a file and fsync it, so the rename that publishes it publishes its content. */
export function writeDurably(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o644 });
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort: some file systems refuse fsync on directories */
  }
}
