import { describe, expect, it } from 'vitest';
import { canonicalJson, checkSignature, generateSigningKey, keyIdOf, signMeta } from './signing.ts';
import type { ImageMeta } from './meta.ts';

const meta = {
  format: 1,
  name: 'web',
  version: 3,
  createdAt: '2026-12-01T10:00:00.000Z',
  sourceHost: 'root@198.18.0.10',
  host: { partitionTable: 'gpt', disks: [], filesystems: [], swap: [], bootMode: 'uefi', bootloader: 'grub', kernels: ['6.1.0'], interfaces: [] },
  artifact: { file: 'image.tar.zst', rawBytes: 1000, compressedBytes: 400, sha256: 'a'.repeat(64), zstdLevel: 3, files: 12 },
  manifest: { file: 'manifest.ndjson.zst', sha256: 'b'.repeat(64) },
} as unknown as ImageMeta;

describe('image signatures', () => {
  const k = generateSigningKey();
  const other = generateSigningKey();

  it('canonical JSON sorts keys at every level and ignores undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 'é' }], c: undefined } })).toBe('{"a":{"d":[2,{"x":"é","y":1}]},"b":1}');
    expect(canonicalJson(JSON.parse(JSON.stringify(meta)))).toBe(canonicalJson(meta));
  });

  it('verifies with the trusted key, also after a JSON round trip (as the plan carries it)', () => {
    const s = signMeta(meta, k.privateKey);
    expect(s).toMatchObject({ alg: 'ed25519', keyId: keyIdOf(k.publicKey) });
    expect(checkSignature(JSON.parse(JSON.stringify(meta)) as ImageMeta, s, [other.publicKey, k.publicKey])).toEqual({ ok: true, keyId: s.keyId });
  });

  it('refuses a changed meta, an untrusted key, a forged or missing signature', () => {
    const s = signMeta(meta, k.privateKey);
    const changed = { ...meta, artifact: { ...meta.artifact, sha256: 'c'.repeat(64) } } as ImageMeta;
    expect(checkSignature(changed, s, [k.publicKey])).toMatchObject({ ok: false, reason: expect.stringMatching(/does not match/) });
    expect(checkSignature(meta, s, [other.publicKey])).toMatchObject({ ok: false, reason: expect.stringMatching(/does not trust/) });
    const forged = { ...s, sig: signMeta(meta, other.privateKey).sig };
    expect(checkSignature(meta, forged, [k.publicKey])).toMatchObject({ ok: false });
    expect(checkSignature(meta, { ...s, sig: 'not base64 at all' }, [k.publicKey])).toMatchObject({ ok: false });
    expect(checkSignature(meta, null, [k.publicKey])).toEqual({ ok: false, reason: 'the image is not signed' });
  });
});
