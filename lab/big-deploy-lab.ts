/**
 * The deployment lab with an image larger than a node's memory: the compact
 * sample OS plus incompressible application data (random files under
 * /opt/bulk), captured as `sample@1` and set for blank nodes. What a real
 * image with applications is like for the node: its compressed artifact
 * alone is bigger than the RAM of the VMs that restore it.
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { startDeployLab, type DeployLab, type DeployLabOptions } from './deploy-lab.ts';

/** Options: the deployment lab's, plus how much incompressible data the sample carries. */
export interface BigDeployLabOptions extends DeployLabOptions {
  /** Bytes of random data added under /opt/bulk, in files of 64 MiB. */
  extraBytes: number;
}

const FILE_BYTES = 64 << 20;

/** Write `bytes` of random data into `dir` as files of FILE_BYTES (the last one shorter). */
export function writeBulk(dir: string, bytes: number): void {
  mkdirSync(dir, { recursive: true });
  const buf = Buffer.alloc(1 << 20);
  for (let n = 0, left = bytes; left > 0; n++, left -= FILE_BYTES) {
    const fd = openSync(join(dir, `bulk-${String(n).padStart(3, '0')}.bin`), 'w');
    try {
      for (let f = Math.min(left, FILE_BYTES); f > 0; f -= buf.length) {
        randomFillSync(buf);
        writeSync(fd, buf, 0, Math.min(f, buf.length));
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** Build the lab, the big sample (sample OS + `extraBytes` of random data), capture it and set it for blank nodes. */
export function startBigDeployLab(o: BigDeployLabOptions): Promise<DeployLab> {
  // A gigabyte takes longer to capture than the CLI helper's minute: the same command, with room.
  return startDeployLab(o, { addToSample: (root) => writeBulk(join(root, 'opt', 'bulk'), o.extraBytes), captureTimeoutMs: 1_800_000 });
}
