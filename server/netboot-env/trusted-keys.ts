/**
 * The public keys a node trusts to sign images, as the initramfs ships them:
 * /imgsrv/trusted-keys/<keyId>.pem, one per key. The client refuses a
 * restore whose plan isn't signed by one of them (none: signing is off).
 * Each key is re-exported as SPKI PEM, so the bytes depend only on the key
 * (reproducible builds) and a private key put where a public one belongs
 * never ends up in the initramfs.
 */
import { createPublicKey } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import { keyIdOf } from '../../images/signing.ts';
import type { CpioEntry } from './cpio.ts';

/** Where the initramfs keeps the trusted keys (the client's TRUSTED_KEYS_DIR). */
export const TRUSTED_KEYS_PATH = 'imgsrv/trusted-keys';

/** One trusted key, normalised. */
export interface TrustedKey {
  keyId: string;
  pem: string;
}

/**
 * Parse and normalise ed25519 public keys (PEM), sorted by key id, duplicates
 * dropped; a bad key is a build error naming it (`names[i]`, e.g. its file).
 */
export function normaliseTrustedKeys(pems: readonly string[], names: readonly string[] = []): TrustedKey[] {
  const byId = new Map<string, string>();
  pems.forEach((pem, i) => {
    const name = names[i] ?? `trusted key #${i + 1}`;
    let key;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new ImgsrvError('NETBOOT_BUILD', `${name} is not a PEM public key`, { hint: 'create the signing key with `imgsrv keys generate`', cause: err });
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new ImgsrvError('NETBOOT_BUILD', `${name} is a ${String(key.asymmetricKeyType)} key, not ed25519`, {
        hint: 'image signatures are ed25519; create the key with `imgsrv keys generate`',
      });
    }
    byId.set(keyIdOf(key), key.export({ type: 'spki', format: 'pem' }).toString());
  });
  return [...byId].sort(([a], [b]) => (a < b ? -1 : 1)).map(([keyId, pem]) => ({ keyId, pem }));
}

/** The initramfs entries for these keys (none when signing is off). */
export function trustedKeyEntries(keys: readonly TrustedKey[]): CpioEntry[] {
  return keys.map((k): CpioEntry => ({ path: `${TRUSTED_KEYS_PATH}/${k.keyId}.pem`, type: 'file', mode: 0o644, data: Buffer.from(k.pem) }));
}

/** The contents of every `*.pub` in `dir`, by file name; a missing dir gives none. */
export async function readPublicKeyFiles(dir: string): Promise<{ file: string; pem: string }[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw new ImgsrvError('IO', `cannot read the signing keys in ${dir}: ${err.message}`, { cause: err });
  });
  const out: { file: string; pem: string }[] = [];
  for (const n of names.filter((f) => f.endsWith('.pub')).sort()) out.push({ file: join(dir, n), pem: await readFile(join(dir, n), 'utf8') });
  return out;
}
