/**
 * Fuzz the tar layer without a disk: the reader unpack and verify use
 * (images/tar-read.ts: tar-stream with our pax decoder), fromTarHeader and
 * the GNU sparse body parser, many times faster than a full unpack. Oracle:
 * tar-stream may refuse the stream with its own errors (the unpacker turns
 * them into "archive is corrupt"); everything of ours throws ImgsrvError
 * only; an accepted entry has a safe path (relative, no "..", no NUL,
 * normalised) and survives toTarHeader → encodeTarHeader (the writer pack
 * uses) → the reader → fromTarHeader unchanged; sparse pieces stay in order
 * and inside the file's size.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { diffEntry, displayPath, type ManifestEntry } from '../../../images/manifest-codec.ts';
import { sparsePieces } from '../../../images/sparse.ts';
import { fromTarHeader, safeEntryPath, toTarHeader, type TarHeader } from '../../../images/tar-entry.ts';
import { encodeTarHeader, TAR_END, tarPadding } from '../../../images/tar-header.ts';
import { createTarExtract } from '../../../images/tar-read.ts';
import { ImgsrvError } from '../../../core/errors.ts';
import { ACCEPTED, rejected, type FuzzTarget, type Verdict } from '../harness.ts';
import { generateTar, mutateTar } from './tar-craft.ts';
import { unpackTarTarget } from './unpack.ts';

// tar-stream's own refusals, which unpackError reports as a corrupt archive.
const TAR_STREAM_ERRORS = /^(Invalid tar header|Unexpected end of data|Header exceeds max size|Invalid header)/;

/** An entry's body: read it (files) or let it drain (tar-stream never ends the body of a directory with a size). */
interface Body extends AsyncIterable<Buffer> {
  resume(): unknown;
}

/** Every entry of a tar stream, fed the way unpack.ts and verify.ts feed it (pipeline, then its result). */
async function* entries(bytes: Buffer, state: { error?: unknown } = {}): AsyncGenerator<{ header: TarHeader; body: Body }> {
  const ex = createTarExtract();
  const fed = pipeline(Readable.from([bytes]), ex);
  fed.catch((err: unknown) => (state.error = err));
  for await (const s of ex) yield { header: s.header as TarHeader, body: s as unknown as Body };
  await fed;
}

/** Write one entry as pack.ts does and read it back as unpack.ts does. */
async function roundTrip(e: ManifestEntry): Promise<ManifestEntry> {
  const { header } = toTarHeader(e);
  const size = header.type === 'file' ? (header.size ?? 0) : 0;
  const bytes = Buffer.concat([encodeTarHeader(header), Buffer.alloc(size), tarPadding(size), TAR_END]);
  for await (const { header: h, body } of entries(bytes)) {
    body.resume();
    return fromTarHeader(h).entry;
  }
  throw new Error('round trip: tar-stream read back no entry');
}

function checkAccepted(e: ManifestEntry): void {
  const p = e.path;
  if (!p.equals(safeEntryPath(p))) throw new Error(`accepted path ${JSON.stringify(displayPath(p))} is not normalised`);
  if (p[0] === 0x2f || p.includes(0) || p.toString('latin1').split('/').includes('..')) throw new Error(`accepted unsafe path ${JSON.stringify(displayPath(p))}`);
  if (e.type === 'hardlink' && e.target && !e.target.equals(safeEntryPath(e.target))) throw new Error('accepted unsafe hard link target');
}

async function checkSparse(body: AsyncIterable<Buffer>, size: number, name: string): Promise<void> {
  let end = 0;
  for await (const { offset, data } of sparsePieces(body, size, name)) {
    if (offset < end || offset + data.length > size) throw new Error(`sparse piece ${offset}+${data.length} out of order or past ${size}`);
    end = offset + data.length;
  }
}

/** tar bytes → tar-stream → fromTarHeader (+ sparse bodies), and the round trip of every accepted entry. */
export const tarEntryTarget: FuzzTarget = {
  name: 'tar-entry',
  description: 'tar bytes → tar-stream → fromTarHeader/sparsePieces: ImgsrvError only, safe paths, encode round trip',
  maxInputBytes: 32 * 1024,
  mix: { generate: 0.3, mutate: 0.4 },
  async seeds() {
    // The unpack target's seeds, without its workspace: real packImage archives and the crafted attacks.
    return (await unpackTarTarget.seeds()).map((b) => (b.readUInt32LE(0) === 0xfd2fb528 ? zlib.zstdDecompressSync(b) : b));
  },
  generate: generateTar,
  mutate: (input, rng) => mutateTar(input, rng),
  async exec(input): Promise<Verdict> {
    let n = 0;
    const state: { error?: unknown } = {};
    try {
      for await (const { header, body } of entries(input, state)) {
        n++;
        const { entry, sparseRealSize } = fromTarHeader(header);
        checkAccepted(entry);
        if (sparseRealSize !== undefined) await checkSparse(body, sparseRealSize, displayPath(entry.path));
        else if (entry.type === 'file') for await (const _ of body) void _;
        else body.resume();
        if (sparseRealSize === undefined && (entry.size ?? 0) <= 65536) {
          const back = await roundTrip(entry);
          const diff = [...(back.path.equals(entry.path) ? [] : ['path']), ...diffEntry(entry, back)];
          if (diff.length > 0) throw new Error(`round trip changed ${JSON.stringify(displayPath(entry.path))}: ${diff.join('; ')}`);
        }
      }
    } catch (thrown) {
      // A body cut short fails as "Stream was destroyed"; the reason is the extractor's error.
      await new Promise((r) => setImmediate(r));
      const err = (thrown as Error)?.name === 'StreamError' && state.error ? state.error : thrown;
      if (err instanceof ImgsrvError) return rejected(err.message.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 60));
      const msg = (err as Error)?.message ?? '';
      if (err instanceof Error && err.constructor === Error && TAR_STREAM_ERRORS.test(msg)) return rejected(`tar-stream: ${msg.slice(0, 40)}`);
      throw err;
    }
    return n > 0 ? ACCEPTED : rejected('empty archive');
  },
};
