// The node's decision on an image's signature: from the keys in its trusted
// dir and the plan, and that a refused restore fails before the disk is chosen.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ImgsrvError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { generateSigningKey, keyIdOf, signMeta } from '../../images/signing.ts';
import type { ImageMeta } from '../../images/meta.ts';
import type { Runner } from '../restore/run.ts';
import type { RestorePlan } from '../../contract/plan.ts';
import type { ClientReport } from './api.ts';
import { NodeConsole } from './console.ts';
import { packImage } from '../../images/pack.ts';
import { encodeInfo, infoHash, payloadName } from '../../images/torrent-info.ts';
import { buildTorrentFile } from '../../torrent/torrent-file.ts';
import { readTrustedKeys, verifyPlanSignature } from './trust.ts';

// runDeployment must not get as far as choosing the disk when it refuses.
const pickDisk = vi.hoisted(() => vi.fn(async () => Promise.reject(new Error('pickDisk called'))));
const restore = vi.hoisted(() => vi.fn());
vi.mock('./restore.ts', () => ({ pickDisk, restore }));
const { refusedBeforeWriting, runDeployment } = await import('./deploy.ts');

const tmp = mkdtempSync(join(tmpdir(), 'imgsrv-trust-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const meta = {
  format: 1,
  name: 'sample',
  version: 1,
  createdAt: '2026-12-01T10:00:00.000Z',
  sourceHost: 'root@198.18.0.5',
  host: { partitionTable: 'gpt', disks: [], filesystems: [], swap: [], bootMode: 'uefi', bootloader: 'grub', kernels: ['6.1.0'], interfaces: [] },
  artifact: { file: 'image.tar.zst', rawBytes: 1000, compressedBytes: 400, sha256: 'a'.repeat(64), zstdLevel: 3, files: 12 },
  manifest: { file: 'manifest.ndjson.zst', sha256: 'b'.repeat(64) },
} as unknown as ImageMeta;

const key = generateSigningKey();
const other = generateSigningKey();
const keyId = keyIdOf(key.publicKey);

/** A restore plan as the server sends it (JSON round trip included). */
function plan(over: Partial<RestorePlan> = {}): RestorePlan {
  return JSON.parse(
    JSON.stringify({
      action: 'restore',
      image: { name: 'sample', version: 1 },
      torrentUrl: 'rsync://198.18.0.1/torrents/sample/1.torrent',
      meta,
      hostname: { assigned: 'web-a', suggestion: 'node-1', promptTimeoutSec: 0 },
      keep: [],
      targetDisk: null,
      linger: 600,
      signature: signMeta(meta, key.privateKey),
      ...over,
    }),
  ) as RestorePlan;
}

function refusal(p: RestorePlan, trusted: string[]): ImgsrvError {
  try {
    verifyPlanSignature(p, trusted);
  } catch (err) {
    expect(err).toBeInstanceOf(ImgsrvError);
    return err as ImgsrvError;
  }
  throw new Error('the plan was not refused');
}

describe('readTrustedKeys', () => {
  it('reads the *.pem files of the dir, by name; a missing or empty dir means signing is off', async () => {
    expect(await readTrustedKeys(join(tmp, 'nope'))).toEqual([]);
    const dir = join(tmp, 'keys');
    mkdirSync(dir);
    expect(await readTrustedKeys(dir)).toEqual([]);
    writeFileSync(join(dir, `${keyIdOf(other.publicKey)}.pem`), other.publicKey);
    writeFileSync(join(dir, `${keyId}.pem`), key.publicKey);
    writeFileSync(join(dir, 'README'), 'not a key');
    const keys = await readTrustedKeys(dir);
    expect(keys.map((k) => keyIdOf(k)).sort()).toEqual([keyId, keyIdOf(other.publicKey)].sort());
  });
});

describe('verifyPlanSignature', () => {
  it('does not check when the node trusts no key (signing not configured), signed or not', () => {
    expect(verifyPlanSignature(plan({ signature: null }), [])).toEqual({ signed: false });
    expect(verifyPlanSignature(plan({ signature: undefined }), [])).toEqual({ signed: false });
    expect(verifyPlanSignature(plan(), [])).toEqual({ signed: false });
  });

  it('accepts a good signature by a trusted key and names the key', () => {
    expect(verifyPlanSignature(plan(), [other.publicKey, key.publicKey])).toEqual({ signed: true, keyId });
  });

  it('refuses a meta changed after signing (e.g. another artifact hash)', () => {
    const tampered = plan({ meta: { ...meta, artifact: { ...meta.artifact, sha256: 'c'.repeat(64) } } });
    const err = refusal(tampered, [key.publicKey]);
    expect(err.code).toBe('IMAGE_INVALID');
    expect(err.message).toBe(`refusing sample@1: the signature by key ${keyId} does not match the image's meta.json`);
    expect(err.hint).toMatch(/changed after signing/);
  });

  it('refuses a flipped signature', () => {
    const s = signMeta(meta, key.privateKey);
    const flipped = Buffer.from(s.sig, 'base64');
    flipped[0] = flipped[0]! ^ 0xff;
    const err = refusal(plan({ signature: { ...s, sig: flipped.toString('base64') } }), [key.publicKey]);
    expect(err.message).toMatch(/^refusing sample@1: .*does not match/);
  });

  it('refuses an image signed by a key the node does not trust', () => {
    const err = refusal(plan({ signature: signMeta(meta, other.privateKey) }), [key.publicKey]);
    expect(err.message).toBe(`refusing sample@1: signed by key ${keyIdOf(other.publicKey)}, which this node does not trust`);
    expect(err.hint).toMatch(/imgsrv netboot build/);
  });

  it('refuses an unsigned image (null, or absent from an older server)', () => {
    for (const signature of [null, undefined]) {
      const err = refusal(plan({ signature }), [key.publicKey]);
      expect(err.message).toBe('refusing sample@1: the image is not signed');
      expect(err.hint).toMatch(/imgsrv images sign sample@1/);
    }
  });

  it('a trusted key that cannot be parsed is the netboot build at fault', () => {
    const err = refusal(plan(), ['-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n']);
    expect(err.message).toMatch(/^refusing sample@1: a trusted key .* cannot be read/);
    expect(err.hint).toMatch(/imgsrv netboot build/);
  });
});

describe('runDeployment with trusted keys', () => {
  const keysDir = join(tmp, 'trusted');
  mkdirSync(keysDir);
  writeFileSync(join(keysDir, `${keyId}.pem`), key.publicKey);

  function deps(p: RestorePlan) {
    const out = new PassThrough();
    let text = '';
    out.on('data', (b: Buffer) => (text += b.toString()));
    const reports: ClientReport[] = [];
    const runner: Runner = { run: vi.fn(async () => '') };
    return {
      reports,
      runner,
      text: () => text,
      d: {
        plan: p,
        params: { server: 'http://198.18.0.1', token: 't', mac: '52:54:00:00:00:01', consoleArgs: [], debug: false },
        api: { server: 'http://198.18.0.1', token: 't', mac: '52:54:00:00:00:01' },
        ip: '198.18.0.100',
        firmware: 'bios' as const,
        con: new NodeConsole(out, new PassThrough()),
        report: async (r: ClientReport) => (reports.push(r), true),
        runner,
        log: silentLogger,
        signal: new AbortController().signal,
        swarmDir: join(tmp, 'swarm'),
        trustedKeysDir: keysDir,
      },
    };
  }

  it('refuses a tampered image before choosing the disk, running anything or downloading', async () => {
    pickDisk.mockClear();
    const x = deps(plan({ meta: { ...meta, artifact: { ...meta.artifact, rawBytes: 2000 } } }));
    const err = await runDeployment(x.d).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'IMAGE_INVALID', message: expect.stringMatching(/^refusing sample@1: .*does not match/) });
    // The console then says nothing was written, not "the disk may be incomplete".
    expect(refusedBeforeWriting.has(err)).toBe(true);
    expect(pickDisk).not.toHaveBeenCalled();
    expect(x.runner.run).not.toHaveBeenCalled();
    expect(x.reports).toEqual([]);
    expect(x.text()).not.toMatch(/signed by key/);
  });

  it('names the key on the console and goes on to the disk when the signature and the torrent are good', async () => {
    pickDisk.mockClear();
    const x = deps(await torrentPlan('a'));
    await expect(runDeployment(x.d)).rejects.toThrow('pickDisk called');
    expect(x.text()).toMatch(new RegExp(`imgsrv: image signed by key ${keyId}\\n`));
    expect(pickDisk).toHaveBeenCalledOnce();
  });

  it('refuses a torrent for another artifact before the disk is chosen: no byte it names can reach the disk', async () => {
    pickDisk.mockClear();
    const x = deps(await torrentPlan('b'));
    const err = await runDeployment(x.d).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'IMAGE_INVALID', message: expect.stringMatching(/is for another image \(info hash [0-9a-f]{40}, the image's meta says [0-9a-f]{40}\)/) });
    expect(refusedBeforeWriting.has(err)).toBe(true);
    expect(pickDisk).not.toHaveBeenCalled();
    expect(restore).not.toHaveBeenCalled();
    expect(x.runner.run).not.toHaveBeenCalled();
  });

  it('refuses an image whose meta names no info hash', async () => {
    pickDisk.mockClear();
    const err = await runDeployment(deps(plan()).d).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'IMAGE_INVALID', message: 'refusing sample@1: its meta names no torrent info hash' });
    expect(pickDisk).not.toHaveBeenCalled();
  });
});

/** Two real packed images; a signed plan for image a whose torrent URL serves image `served`'s torrent. */
const packed = new Map<string, { info: Buffer; torrent: string; pack: Awaited<ReturnType<typeof packImage>> }>();
async function torrentPlan(served: 'a' | 'b'): Promise<RestorePlan> {
  for (const name of ['a', 'b']) {
    if (packed.has(name)) continue;
    const tree = join(tmp, `tree-${name}`);
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'hostname'), `${name}\n`);
    const out = join(tmp, `img-${name}`);
    mkdirSync(out);
    const pack = await packImage({ root: tree, outDir: out });
    const info = encodeInfo(payloadName('sample', 1), pack.pieces);
    const torrent = join(out, 'sample-1.torrent');
    writeFileSync(torrent, buildTorrentFile(info, { announce: 'http://198.18.0.1/announce', webSeed: 'http://198.18.0.1/seed/sample/1/' }));
    packed.set(name, { info, torrent, pack });
  }
  const a = packed.get('a')!;
  const m = {
    ...meta,
    artifact: { ...meta.artifact, rawBytes: a.pack.rawBytes, compressedBytes: a.pack.compressedBytes, sha256: a.pack.sha256, files: a.pack.files },
    torrent: { file: 'info.bencode', infoHash: infoHash(a.info), pieceLength: a.pack.pieces.pieceLength, pieces: a.pack.pieces.hashes.length / 20 },
  } as ImageMeta;
  return plan({ meta: m, signature: signMeta(m, key.privateKey), torrentUrl: packed.get(served)!.torrent });
}
