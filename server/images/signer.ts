/**
 * The server's image signing key: `<data>/signing/ed25519.key` (made by
 * `imgsrv keys generate`). When it exists, signing is configured: every
 * version the store publishes gets a `meta.sig`, and nodes whose netboot
 * environment was built with the public key refuse anything else.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateSigningKey, keyIdOf, signMeta, type ImageSignature } from '../../images/signing.ts';
import type { ImageMeta } from '../../images/meta.ts';
import { ImgsrvError } from '../../core/errors.ts';

/** Where a data directory keeps the signing key pair. */
export function signingPaths(data: string): { dir: string; key: string; pub: string } {
  const dir = join(data, 'signing');
  return { dir, key: join(dir, 'ed25519.key'), pub: join(dir, 'ed25519.pub') };
}

/** Make a key pair (refuses to replace one unless `force`: images signed with the old key would no longer verify on rebuilt nodes). */
export function generateKeyFiles(data: string, force = false): { keyId: string; pub: string } {
  const p = signingPaths(data);
  if (existsSync(p.key) && !force) {
    throw new ImgsrvError('CONFLICT', `a signing key already exists (${p.key}, key ${keyIdOf(readFileSync(p.pub, 'utf8'))})`, {
      hint: 'keep it; --force replaces it (then rebuild the netboot environment and sign the images again)',
    });
  }
  mkdirSync(dirname(p.key), { recursive: true, mode: 0o700 });
  const k = generateSigningKey();
  writeFileSync(p.key, k.privateKey, { mode: 0o600 });
  chmodSync(p.key, 0o600);
  writeFileSync(p.pub, k.publicKey, { mode: 0o644 });
  return { keyId: keyIdOf(k.publicKey), pub: p.pub };
}

/** Signs metas with the data dir's key, read when it changes (a key made while the server runs is used at once). */
export class ImageSigner {
  private readonly keyFile: string;
  private cached: { mtimeMs: number; pem: string; keyId: string; publicKey: string } | undefined;

  constructor(data: string) {
    this.keyFile = signingPaths(data).key;
  }

  private load(): { pem: string; keyId: string; publicKey: string } | undefined {
    if (!existsSync(this.keyFile)) return (this.cached = undefined);
    const mtimeMs = statSync(this.keyFile).mtimeMs;
    if (this.cached?.mtimeMs !== mtimeMs) {
      const pem = readFileSync(this.keyFile, 'utf8');
      const publicKey = readFileSync(join(dirname(this.keyFile), 'ed25519.pub'), 'utf8');
      this.cached = { mtimeMs, pem, keyId: keyIdOf(publicKey), publicKey };
    }
    return this.cached;
  }

  /** Whether signing is configured. */
  get configured(): boolean {
    return this.load() !== undefined;
  }

  /** The public key (PEM) of the current key, if any. */
  publicKey(): string | undefined {
    return this.load()?.publicKey;
  }

  /** Sign a meta; undefined when no key is configured. */
  sign(meta: ImageMeta): ImageSignature | undefined {
    const k = this.load();
    return k && signMeta(meta, k.pem);
  }
}
