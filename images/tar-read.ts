/**
 * tar-stream's extractor made to hand over bytes: ustar names decoded as
 * latin1 (its `filenameEncoding` option) and pax extended headers decoded by
 * our decodePaxRecords, so every string of a header is a latin1 byte string
 * (see tar-header.ts). tar-stream decodes pax values as UTF-8, which mangles
 * binary xattrs (security.capability, POSIX ACLs) and non-UTF-8 names, and
 * offers no option or hook for it.
 *
 * This is the one change to tar-stream's private internals: it replaces, on
 * each extractor instance, `_decodeLongHeader(buf)`, which tar-stream 3.x
 * calls with the whole body of every 'x', 'g', 'L' and 'K' header before it
 * merges `_pax` into the next entry's header (`_applyLongHeaders`: name ←
 * path, linkname ← linkpath, size ← size). tar-read.test.ts fails when the
 * installed tar-stream is not the version this was written against.
 */
import tar from 'tar-stream';
import type { Extract } from 'tar-stream';
import { decodePaxRecords } from './tar-header.ts';
import { ImgsrvError } from '../core/errors.ts';

/** The tar-stream version whose internals createTarExtract relies on; re-read extract.js before moving it. */
export const TAR_STREAM_VERSION = '3.2.2';

/** The private fields of tar-stream's Extract this module touches. */
interface ExtractInternals {
  _header: { type: string } | null;
  _pax: Record<string, string> | null;
  _paxGlobal: Record<string, string> | null;
  _decodeLongHeader(buf: Buffer): void;
}

/** A tar-stream extractor whose headers hold names and pax values as latin1 byte strings. */
export function createTarExtract(): Extract {
  const ex = tar.extract({ filenameEncoding: 'latin1' } as Parameters<typeof tar.extract>[0]);
  const inner = ex as unknown as ExtractInternals;
  const original = inner._decodeLongHeader;
  if (typeof original !== 'function') {
    throw new ImgsrvError('INTERNAL', 'tar-stream has no _decodeLongHeader: its internals changed', { hint: `images/tar-read.ts was written for tar-stream ${TAR_STREAM_VERSION}` });
  }
  inner._decodeLongHeader = function decodeLongHeader(this: ExtractInternals, buf: Buffer): void {
    switch (this._header?.type) {
      case 'pax-header':
        // Entry records override the global ones (POSIX: 'x' after 'g').
        this._pax = Object.assign(Object.create(null) as Record<string, string>, this._paxGlobal, decodePaxRecords(buf));
        break;
      case 'pax-global-header':
        this._paxGlobal = decodePaxRecords(buf);
        break;
      default:
        original.call(this, buf); // GNU long names: already decoded with filenameEncoding
    }
  };
  return ex;
}
