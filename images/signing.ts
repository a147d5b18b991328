/**
 * Image signatures (ed25519). The server signs each published version's
 * meta.json: its canonical JSON (keys sorted, no whitespace), which names the
 * artifact's size and SHA-256, the manifest's SHA-256 and the torrent's info
 * hash, so one signature vouches for every byte a node restores (the node
 * checks the artifact against the meta as it restores). A node that trusts a
 * key refuses an image that isn't signed by it, before it writes anything.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { ImageMeta } from './meta.ts';

/** A detached signature as stored beside meta.json (meta.sig) and sent in the node's plan. */
export interface ImageSignature {
  alg: 'ed25519';
  /** First 16 hex digits of the SHA-256 of the public key (SPKI DER). */
  keyId: string;
  /** base64 */
  sig: string;
}

/** Where a signature stands against a set of trusted keys. */
export type SignatureCheck = { ok: true; keyId: string } | { ok: false; reason: string };

/** JSON with object keys sorted at every level: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The bytes a signature covers: a domain tag, then the canonical meta. */
export function signedBytes(meta: ImageMeta): Buffer {
  return Buffer.from(`imgsrv-image-signature-v1\n${canonicalJson(meta)}`, 'utf8');
}

/** The key id of a public key (PEM or KeyObject). */
export function keyIdOf(publicKey: string | KeyObject): string {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** A new key pair, PEM-encoded (PKCS#8 private, SPKI public). */
export function generateSigningKey(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** Sign a version's meta with a private key (PEM). */
export function signMeta(meta: ImageMeta, privateKeyPem: string): ImageSignature {
  const key = createPrivateKey(privateKeyPem);
  return { alg: 'ed25519', keyId: keyIdOf(createPublicKey(key)), sig: sign(null, signedBytes(meta), key).toString('base64') };
}

/** Check a signature against trusted public keys (PEM); says why when it fails. */
export function checkSignature(meta: ImageMeta, signature: ImageSignature | null | undefined, trusted: readonly string[]): SignatureCheck {
  if (!signature) return { ok: false, reason: 'the image is not signed' };
  if (signature.alg !== 'ed25519') return { ok: false, reason: `unknown signature algorithm ${String(signature.alg)}` };
  const key = trusted.map((pem) => createPublicKey(pem)).find((k) => keyIdOf(k) === signature.keyId);
  if (!key) return { ok: false, reason: `signed by key ${signature.keyId}, which this node does not trust` };
  let good = false;
  try {
    good = verify(null, signedBytes(meta), key, Buffer.from(signature.sig, 'base64'));
  } catch {
    good = false;
  }
  return good ? { ok: true, keyId: signature.keyId } : { ok: false, reason: `the signature by key ${signature.keyId} does not match the image's meta.json` };
}
