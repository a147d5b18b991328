// createTarExtract: tar-stream with pax bodies decoded as bytes. Fails first when tar-stream moves.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { encodePaxRecords, encodeTarHeader, TAR_END, tarPadding } from './tar-header.ts';
import { createTarExtract, TAR_STREAM_VERSION } from './tar-read.ts';
import { readTarHeaders } from './testdata/helpers.ts';
import { ImgsrvError } from '../core/errors.ts';

/** A hand-made extended header block ('x' or 'g') with its body. */
function extended(flag: 'x' | 'g', records: Array<[string, string]>): Buffer {
  const body = encodePaxRecords(records);
  const h = encodeTarHeader({ name: 'PaxHeader', type: 'file', size: body.length });
  h[156] = flag.charCodeAt(0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of h) sum += c;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([h, body, tarPadding(body.length)]);
}

describe('createTarExtract', () => {
  it(`relies on tar-stream ${TAR_STREAM_VERSION}: re-read its extract.js (_decodeLongHeader, _applyLongHeaders) before moving it`, () => {
    const dir = path.dirname(createRequire(import.meta.url).resolve('tar-stream'));
    const { version } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string };
    expect(version).toBe(TAR_STREAM_VERSION);
  });

  it('hands over binary pax values and names byte for byte, global records merged under the entry ones', async () => {
    const bin = Buffer.from([0, 0xff, 0xc3, 0x28, 0x0a]).toString('latin1');
    const bytes = Buffer.concat([
      extended('g', [['comment', 'global'], ['SCHILY.xattr.user.g', 'G']]),
      extended('x', [['path', 'n\xff\xfe'], ['SCHILY.xattr.security.capability', bin], ['comment', 'local']]),
      encodeTarHeader({ name: 'ustar-name', type: 'file', size: 0 }),
      TAR_END,
    ]);
    const [h] = await readTarHeaders(bytes);
    expect(h?.name).toBe('n\xff\xfe');
    expect({ ...h?.pax }).toEqual({ comment: 'local', 'SCHILY.xattr.user.g': 'G', path: 'n\xff\xfe', 'SCHILY.xattr.security.capability': bin });
  });

  it('fails on a malformed pax header with ImgsrvError', async () => {
    const bytes = Buffer.concat([extended('x', [['path', 'a']]).fill(0x39, 512, 514), encodeTarHeader({ name: 'f', type: 'file' }), TAR_END]);
    const ex = createTarExtract();
    Readable.from([bytes]).pipe(ex as unknown as NodeJS.WritableStream);
    const run = async (): Promise<void> => {
      for await (const s of ex) s.resume();
    };
    await expect(run()).rejects.toThrow(ImgsrvError);
  });
});
