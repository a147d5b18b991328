/**
 * The zstd compressor for packImage. threads 0: Node's built-in zstd (runs
 * on a libuv thread beside the walk). threads > 0: the zstd command with
 * -T<threads>, because Node 24.11's built-in zstd with ZSTD_c_nbWorkers > 0
 * ends its output early when streamed (it takes a "nothing left to flush"
 * of ZSTD_e_continue for the end of the frame: see bench/results/capture.json
 * and images/compressor.test.ts). Both write one checksummed zstd frame.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { ImgsrvError } from '../core/errors.ts';

/** zstd compression parameters for Node's zlib: level, worker threads, and a content checksum so corruption is caught on decode. */
export function zstdParams(level: number, threads: number): Record<number, number> {
  return {
    [zlib.constants.ZSTD_c_compressionLevel]: level,
    [zlib.constants.ZSTD_c_nbWorkers]: threads,
    [zlib.constants.ZSTD_c_checksumFlag]: 1,
  };
}

/** A Duplex that zstd-compresses what is written to it at `level` with `threads` workers. */
export function createCompressor(level: number, threads: number, chunkSize = 1 << 20): Duplex {
  if (threads <= 0) return zlib.createZstdCompress({ params: zstdParams(level, 0), chunkSize });
  const args = ['-q', '-c', `-${level}`, `-T${threads}`, ...(level > 19 ? ['--ultra'] : [])];
  const child = spawn('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
  child.on('error', (err: NodeJS.ErrnoException) => {
    duplex.destroy(err.code === 'ENOENT'
      ? new ImgsrvError('IO', 'the zstd command is not installed (needed for multi-threaded compression)', { hint: 'apt-get install zstd, or pack with threads 0', cause: err })
      : err);
  });
  child.on('close', (code, sig) => {
    if (code !== 0 && !duplex.destroyed) duplex.destroy(new ImgsrvError('IO', `zstd exited with ${code ?? sig}: ${stderr.trim()}`, { hint: 'check free space and the zstd installation' }));
  });
  duplex.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return duplex;
}
