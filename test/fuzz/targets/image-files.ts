/**
 * Fuzz the parsers of an image's small files, each of which can arrive from
 * another server (bundle import) or over the network (a node's plan):
 * manifest.jsonl (manifest-codec.ts through readManifestFile), meta.json
 * (meta.ts), info.bencode (torrent-info.ts) and signatures (signing.ts,
 * and the node's check in initramfs-client/client/trust.ts). Oracle: the
 * module's typed error only, and whatever is accepted round-trips; a
 * signature check never says yes to a meta other than the one signed.
 */
import bencode from 'bencode';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { readManifestFile } from '../../../images/manifest.ts';
import { decodeManifestLine, encodeManifestLine, MANIFEST_HEADER, type ManifestEntry } from '../../../images/manifest-codec.ts';
import { parseImageMeta, type ImageMeta } from '../../../images/meta.ts';
import { SAMPLE_META } from '../../../images/testdata/sample-meta.ts';
import { canonicalJson, checkSignature, generateSigningKey, signMeta } from '../../../images/signing.ts';
import { decodeInfo, encodeInfo } from '../../../images/torrent-info.ts';
import { verifyPlanSignature } from '../../../initramfs-client/client/trust.ts';
import { ImgsrvError } from '../../../core/errors.ts';
import { ACCEPTED, rejected, type FuzzTarget, type Verdict } from '../harness.ts';
import { mutateJson } from './json-mutate.ts';

/** A refusal label from a typed error; anything else is the oracle failing. */
function typed(err: unknown, ...codes: string[]): Verdict {
  if (err instanceof ImgsrvError && (codes.length === 0 || codes.includes(err.code))) {
    return rejected(err.message.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').replace(/\/tmp\/\S+/g, 'FILE').slice(0, 60));
  }
  throw err;
}

const MANIFEST_LINES = [
  '{"path":".","type":"dir","mode":493,"uid":0,"gid":0,"mtime":"1700000000123456789"}',
  '{"path":"usr/bin/ping","type":"file","mode":2541,"uid":0,"gid":0,"mtime":"1700000000123456789","size":90568,"sha256":"' + 'a'.repeat(64) + '","xattrs":{"security.capability":"AQAAAgAgAAAAAAAAAAAAAAAAAAA="}}',
  '{"pathB64":"Yv8K","type":"symlink","mode":511,"uid":0,"gid":0,"mtime":"-5","targetB64":"/w=="}',
  '{"path":"dev/sda","type":"block","mode":432,"uid":0,"gid":6,"mtime":"1","rdev":[8,0]}',
  '{"path":"var/big","type":"file","mode":420,"uid":1000,"gid":1000,"mtime":"0","size":1048580,"sha256":"' + 'b'.repeat(64) + '","sparse":[[0,4],[1048576,4]]}',
  '{"path":"h","type":"hardlink","mode":420,"uid":0,"gid":0,"mtime":"0","target":"usr/bin/ping"}',
];

/** manifest.jsonl text → readManifestFile: ImgsrvError only; every entry re-encodes to a line that decodes to it again. */
export const manifestTarget: FuzzTarget = (() => {
  let dir = '';
  return {
    name: 'manifest',
    description: 'manifest.jsonl → readManifestFile/decodeManifestLine: ImgsrvError only; accepted entries round-trip',
    setup() {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgsrv-fuzz-manifest-'));
    },
    seeds: () => [Buffer.from([MANIFEST_HEADER, ...MANIFEST_LINES, ''].join('\n')), ...MANIFEST_LINES.map((l) => Buffer.from(`${MANIFEST_HEADER}\r\n${l}\r\n`))],
    mix: { mutate: 0.75 },
    mutate(input, rng) {
      const lines = input.toString('utf8').split('\n');
      const i = lines.length > 1 && rng.chance(0.9) ? 1 + rng.below(lines.length - 1) : 0; // the header line less often
      if (rng.chance(0.2)) lines.splice(i, 0, rng.pick(MANIFEST_LINES));
      lines[i] = mutateJson(Buffer.from(lines[i]!), rng).toString('utf8');
      return Buffer.from(lines.join('\n'));
    },
    async exec(input) {
      const roundTrip = (e: ManifestEntry): void => {
        const line = encodeManifestLine(e);
        const back = decodeManifestLine(line);
        if (!isDeepStrictEqual(back, e)) throw new Error(`manifest entry does not round-trip: ${line}`);
        if (encodeManifestLine(back) !== line) throw new Error(`manifest line is not stable: ${line}`);
      };
      try {
        // Every line through the line codec (fast); one input in eight through the file reader too (header, CRLF, blank lines).
        const lines = input.toString('utf8').split('\n').slice(1).filter((l) => l !== '');
        for (const line of lines) roundTrip(decodeManifestLine(line));
        if (createHash('sha1').update(input).digest()[0]! % 8 === 0) {
          const file = path.join(dir, 'manifest.jsonl');
          fs.writeFileSync(file, input);
          for await (const e of readManifestFile(file)) roundTrip(e);
        }
        return lines.length > 0 ? ACCEPTED : rejected('no entries');
      } catch (err) {
        return typed(err);
      }
    },
    close() {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
})();

/** meta.json text → parseImageMeta: ImgsrvError only; an accepted meta survives JSON and canonical JSON unchanged. */
export const metaTarget: FuzzTarget = {
  name: 'meta',
  description: 'meta.json → parseImageMeta: ImgsrvError only; accepted metas round-trip through JSON and canonical JSON',
  seeds: () => [Buffer.from(JSON.stringify(SAMPLE_META)), Buffer.from(JSON.stringify({ ...SAMPLE_META, torrent: undefined, host: { ...SAMPLE_META.host, os: undefined } }))],
  mix: { mutate: 0.7 },
  mutate: (input, rng) => mutateJson(input, rng),
  exec(input) {
    let json: unknown;
    try {
      json = JSON.parse(input.toString('utf8'));
    } catch {
      return rejected('not JSON'); // the callers' JSON.parse: they report it as such
    }
    let meta: ImageMeta;
    try {
      meta = parseImageMeta(json);
    } catch (err) {
      return typed(err, 'IO');
    }
    // Compared as JSON, the form meta.json is stored and signed in (where -0 is 0, as it is to every reader).
    const again = parseImageMeta(JSON.parse(JSON.stringify(meta)));
    if (JSON.stringify(again) !== JSON.stringify(meta)) throw new Error('meta does not round-trip through JSON');
    if (canonicalJson(JSON.parse(canonicalJson(meta))) !== canonicalJson(meta)) throw new Error('canonical JSON is not stable');
    if (meta.manifest.file.includes('/')) throw new Error('accepted a manifest file name with a slash');
    return ACCEPTED;
  },
};

/** info.bencode bytes → decodeInfo: ImgsrvError only; accepted dictionaries decode the same after re-encoding. */
export const torrentInfoTarget: FuzzTarget = {
  name: 'torrent-info',
  description: 'info.bencode → decodeInfo: ImgsrvError only; accepted dictionaries survive a bencode round trip',
  seeds: () => [
    encodeInfo('web-2.tar.zst', { length: 40000, pieceLength: 16384, hashes: Buffer.alloc(60, 7) }),
    encodeInfo('x', { length: 0, pieceLength: 16384, hashes: Buffer.alloc(0) }),
    Buffer.from('d5:filesld6:lengthi1e4:pathl1:aeee4:name1:x12:piece lengthi1e6:pieces20:aaaaaaaaaaaaaaaaaaaae'),
  ],
  exec(input) {
    let fields;
    try {
      fields = decodeInfo(input);
    } catch (err) {
      return typed(err, 'IMAGE_INVALID');
    }
    const again = decodeInfo(Buffer.from(bencode.encode(bencode.decode(input))));
    if (!isDeepStrictEqual(again, fields)) throw new Error('info dictionary does not survive a bencode round trip');
    if (!(fields.length >= 0 && fields.pieceLength > 0 && Number.isSafeInteger(fields.pieceCount))) throw new Error(`accepted nonsense fields ${JSON.stringify(fields)}`);
    return ACCEPTED;
  },
};

/** {meta, signature} JSON → checkSignature and the node's verifyPlanSignature: never a yes for another meta, typed refusals only. */
export const signatureTarget: FuzzTarget = (() => {
  const key = generateSigningKey();
  const signed = canonicalJson(SAMPLE_META);
  return {
    name: 'signature',
    description: '{meta, signature} → checkSignature/verifyPlanSignature: no exception, refusal as IMAGE_INVALID, never accepts a changed meta',
    seeds: () => {
      const sig = signMeta(SAMPLE_META, key.privateKey);
      return [
        Buffer.from(JSON.stringify({ meta: SAMPLE_META, signature: sig })),
        Buffer.from(JSON.stringify({ meta: { ...SAMPLE_META, version: 3 }, signature: sig })),
        Buffer.from(JSON.stringify({ meta: SAMPLE_META, signature: { ...sig, sig: Buffer.alloc(64).toString('base64') } })),
        Buffer.from(JSON.stringify({ meta: SAMPLE_META, signature: null })),
      ];
    },
    mix: { mutate: 0.7 },
    mutate: (input, rng) => mutateJson(input, rng),
    exec(input) {
      let plan: { meta?: unknown; signature?: unknown };
      try {
        plan = JSON.parse(input.toString('utf8')) as typeof plan;
      } catch {
        return rejected('not JSON');
      }
      if (plan === null || typeof plan !== 'object') return rejected('not an object');
      const meta = plan.meta as ImageMeta;
      const check = checkSignature(meta, plan.signature as never, [key.publicKey]);
      let decision;
      try {
        decision = verifyPlanSignature({ image: { name: 'web', version: 2 }, meta, signature: plan.signature } as never, [key.publicKey]);
      } catch (err) {
        if (check.ok) throw new Error('checkSignature said yes, verifyPlanSignature no', { cause: err });
        return typed(err, 'IMAGE_INVALID');
      }
      if (!check.ok || !decision.signed) throw new Error('verifyPlanSignature said yes, checkSignature no');
      if (canonicalJson(meta) !== signed) throw new Error(`a changed meta passed the signature check: ${canonicalJson(meta).slice(0, 200)}`);
      return ACCEPTED;
    },
  };
})();
