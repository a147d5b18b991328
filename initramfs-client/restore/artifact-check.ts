/**
 * The image artifact is checked end to end on the node: the bytes that came
 * out of the swarm and went to disk must have the size and SHA-256 that the
 * image's meta.json names. BitTorrent already verifies every piece against
 * the torrent, but the torrent itself came over the network; this closes the
 * loop to the image the server published. A mismatch fails the restore
 * before personalisation and the boot loader, so the node never boots it.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Transform, type Readable } from 'node:stream';
import { ImgsrvError } from '../../core/errors.ts';

/** What the artifact must be. */
export interface ArtifactExpectation {
  sha256: string;
  compressedBytes: number;
}

/** A pass-through that hashes the artifact, and the check to run once the restore has read it. */
export function checkArtifact(src: Readable, want: ArtifactExpectation): { stream: Readable; verify(): Promise<void> } {
  const hash = createHash('sha256');
  let bytes = 0;
  let ended = false;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  stream.once('end', () => (ended = true));
  src.once('error', (err) => stream.destroy(err));
  src.pipe(stream);
  return {
    stream,
    async verify() {
      // The unpacker may stop at the tar end marker; whatever follows still counts.
      if (!ended) {
        stream.resume();
        await once(stream, 'end');
      }
      const got = hash.digest('hex');
      if (bytes !== want.compressedBytes || got !== want.sha256) {
        throw new ImgsrvError('IMAGE_INVALID', `the image received is not the one published: ${bytes} bytes with sha256 ${got}, meta.json says ${want.compressedBytes} bytes with ${want.sha256}`, {
          hint: 'nothing boots from this disk; check the image on the server (`imgsrv images verify`) and re-image the node',
        });
      }
    },
  };
}
