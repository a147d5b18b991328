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
import { Lab, sweepStaleLabs } from './netns.ts';
import { startLabImgsrv, type DeployLab, type DeployLabOptions, type LabImgsrv } from './deploy-lab.ts';
import { IMGSRV } from './imgsrv.ts';
import { buildSampleOs, startSampleOsHost, type SampleOsHost } from './sample-os.ts';

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
export async function startBigDeployLab(o: BigDeployLabOptions): Promise<DeployLab> {
  mkdirSync(o.work, { recursive: true });
  await sweepStaleLabs();
  const os = await buildSampleOs(join(o.work, 'sample'));
  writeBulk(join(os.root, 'opt', 'bulk'), o.extraBytes);
  const lab = await Lab.create();
  let base: LabImgsrv | undefined;
  let sample: SampleOsHost | undefined;
  const destroy = async (): Promise<void> => {
    await base?.destroy();
    await sample?.stop();
    await lab.destroy();
  };
  try {
    const b = (base = await startLabImgsrv(lab, o));
    sample = await startSampleOsHost(lab, os.root, { cidr: '198.18.0.5/24' });
    const t0 = Date.now();
    // A gigabyte takes longer than the CLI helper's minute: the same command, with room.
    await b.srv.exec(IMGSRV, ['--data', b.server.data, 'capture', sample.rsyncUrl, '--name', 'sample'], { timeoutMs: 1_800_000 });
    const captureSeconds = (Date.now() - t0) / 1000;
    await b.server.cli(['deploy', 'set', 'sample']);
    return {
      lab,
      srv: b.srv,
      get server() {
        return b.server;
      },
      sample,
      os,
      captureSeconds,
      signingKeyId: b.signingKeyId,
      restartServer: (pauseMs) => b.restartServer(pauseMs),
      blankVm: (v) => b.blankVm(v),
      nodes: () => b.nodes(),
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
