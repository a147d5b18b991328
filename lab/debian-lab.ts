/**
 * The deployment lab with a real OS: `imgsrv serve` (startLabImgsrv), the
 * Debian sample (debian-sample.ts) booted as a QEMU VM from a copy of its
 * disk through its own grub, at its static address, captured over ssh as
 * `debian@1` with its host key pinned, and set for blank nodes. The sample
 * is powered off after the capture: from then on, any machine answering at
 * its address would be a clone that kept it.
 *
 * Also the checks a restored Debian node answers: its serial login prompt,
 * its ssh host key, its application, and ssh as root with the lab key
 * (the sample's authorized_keys travel with the image).
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImgsrvError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { startLabImgsrv, type DeployLabOptions, type LabImgsrv } from './deploy-lab.ts';
import { runCli } from './imgsrv.ts';
import { Lab, sh, sweepStaleLabs, type LabHost } from './netns.ts';
import { startVm, type Vm } from './qemu.ts';
import { copyDisk, DEBIAN_SAMPLE_CIDR, DEBIAN_SAMPLE_HOSTNAME, DEBIAN_SAMPLE_MAC, ensureDebianSample, type DebianSample, type DebianSampleLayout } from './debian-sample.ts';

/** The image name the Debian sample is captured as. */
export const DEBIAN_IMAGE = 'debian';
/** A Debian machine at its serial login prompt: group 1 = its hostname (getty prints "\n<name> login: "). */
export const DEBIAN_LOGIN = /\n([a-z0-9][a-z0-9.-]*) login: /;

/** A running Debian deployment lab. */
export interface DebianDeployLab extends LabImgsrv {
  sample: DebianSample;
  /** The sample's address (its static one) and the private key its root, and its clones' root, accept. */
  sampleAddress: string;
  key: string;
  /** Seconds from the sample VM's power-on to its ssh answering, and of `imgsrv capture` over ssh. */
  sampleBootSeconds: number;
  captureSeconds: number;
  /** `imgsrv images ls --json` for the captured version. */
  image: { name: string; version: number; size: number; compressedSize: number; files: number };
  /** The `imgsrv capture` summary line. */
  captureLine: string;
}

/** Build (or take from the cache) the Debian sample, boot it, capture it over ssh, and set it for blank nodes. */
export async function startDebianDeployLab(o: DeployLabOptions & { say?: (s: string) => void; log?: Logger; layout?: DebianSampleLayout }): Promise<DebianDeployLab> {
  mkdirSync(o.work, { recursive: true });
  await sweepStaleLabs();
  const sample = await ensureDebianSample({ ...(o.say ? { say: o.say } : {}), ...(o.log ? { log: o.log } : {}), ...(o.layout ? { layout: o.layout } : {}) });
  // The key as a file of the capture's own (ssh insists on 0600; the cached one stays untouched).
  const key = join(o.work, 'debian_ed25519');
  copyFileSync(sample.key, key);
  chmodSync(key, 0o600);
  const lab = await Lab.create();
  let base: LabImgsrv | undefined;
  let vm: Vm | undefined;
  const destroy = async (): Promise<void> => {
    await vm?.stop();
    await base?.destroy();
    await lab.destroy();
  };
  try {
    const b = (base = await startLabImgsrv(lab, o));
    const address = DEBIAN_SAMPLE_CIDR.split('/')[0]!;
    const t0 = Date.now();
    vm = await startVm(lab, {
      name: 'debsample',
      firmware: 'bios',
      mac: DEBIAN_SAMPLE_MAC,
      memoryMiB: 1024,
      disk: await copyDisk(sample, join(o.work, 'debian-sample.raw')),
      // the md sample's second disk, as the sample had it: virtio, after the first
      ...(sample.mirrorDisk ? { extraDisks: [{ file: await copyDisk(sample, join(o.work, 'debian-sample-2.raw'), 'mirror'), bus: 'virtio' as const }] } : {}),
      serialLog: join(o.work, 'debian-sample.serial.log'),
    });
    o.say?.(`Debian sample booting from its disk (its own grub, SeaBIOS) at ${address}…`);
    await vm.waitFor(new RegExp(`\\n${DEBIAN_SAMPLE_HOSTNAME} login: `), 600_000);
    await waitForSsh(b.srv, address, 120_000);
    const sampleBootSeconds = (Date.now() - t0) / 1000;
    const pin = sample.build.hostKeys.ED25519;
    if (!pin) throw new ImgsrvError('IO', `Debian sample: no ed25519 host key in ${sample.cacheDir}/build.json`, { hint: 'remove that directory to build the sample again' });
    o.say?.(`capturing root@${address} over ssh (host key ${pin})…`);
    const t1 = Date.now();
    const cap = await runCli(b.srv, b.server.data, ['capture', `root@${address}`, '--name', DEBIAN_IMAGE, '--identity', key, '--host-key', pin], 1_800_000);
    if (cap.code !== 0) throw new ImgsrvError('CAPTURE_FAILED', `imgsrv capture root@${address} failed (${cap.code}): ${cap.stderr.trim().split('\n').slice(-5).join('\n')}`, { hint: `the sample's console: ${join(o.work, 'debian-sample.serial.log')}` });
    const captureSeconds = (Date.now() - t1) / 1000;
    const images = JSON.parse(await b.server.cli(['images', 'ls', '--json'])) as Array<DebianDeployLab['image']>;
    const image = images.find((i) => i.name === DEBIAN_IMAGE);
    if (!image) throw new ImgsrvError('INTERNAL', `imgsrv images ls has no ${DEBIAN_IMAGE} after the capture`);
    await b.server.cli(['deploy', 'set', DEBIAN_IMAGE]);
    // Off, so nothing answers at the sample's address but a clone that kept it.
    await vm.stop();
    vm = undefined;
    return {
      lab,
      srv: b.srv,
      get server() {
        return b.server;
      },
      signingKeyId: b.signingKeyId,
      restartServer: (pauseMs) => b.restartServer(pauseMs),
      blankVm: (v) => b.blankVm(v),
      nodes: () => b.nodes(),
      destroy,
      sample,
      sampleAddress: address,
      key,
      sampleBootSeconds,
      captureSeconds,
      image,
      captureLine: cap.stdout.split('\n').find((l) => l.startsWith('captured ')) ?? '',
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}

/** Resolve once sshd at `ip` hands out its host keys (ssh-keyscan from `from`). */
export async function waitForSsh(from: LabHost, ip: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await from.exec('ssh-keyscan', ['-T', '5', '-t', 'ed25519', ip], { timeoutMs: 15_000 }).catch(() => '');
    if (out.includes('ssh-ed25519')) return;
    if (Date.now() > deadline) throw new ImgsrvError('HOST_UNREACHABLE', `no sshd answered at ${ip} within ${timeoutMs} ms`, { hint: "see the machine's serial log" });
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** The host key fingerprints sshd at `ip` presents, by type ("ED25519": "SHA256:…"). */
export async function hostKeyFingerprints(from: LabHost, ip: string): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'imgsrv-keyscan-'));
  try {
    const file = join(dir, 'keys');
    writeFileSync(file, await from.exec('ssh-keyscan', ['-T', '10', ip], { timeoutMs: 30_000 }));
    const out: Record<string, string> = {};
    for (const line of (await sh('ssh-keygen', ['-lf', file])).split('\n')) {
      const m = /^\d+ (SHA256:\S+) .* \((\w+)\)$/.exec(line.trim());
      if (m) out[m[2]!] = m[1]!;
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run `command` as root on the Debian machine at `ip` over ssh with the lab key; its host key is new to us by design. */
export function debianSsh(from: LabHost, key: string, ip: string, command: string): Promise<string> {
  return from.exec('ssh', [
    '-F', '/dev/null', '-i', key, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10', `root@${ip}`, command,
  ], { timeoutMs: 60_000 });
}

/** Resolve with the node's record once `imgsrv nodes ls` shows it done (its restored system reported up); throw after `timeoutMs`. */
export async function waitForDone(d: DebianDeployLab, mac: string, timeoutMs: number): Promise<{ ip: string | null; hostname: string | null; phase: string; install: string; error: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const node = (JSON.parse(await d.server.cli(['nodes', 'ls', '--json'])) as Array<{ mac: string; ip: string | null; hostname: string | null; phase: string; install: string; error: string | null }>).find((n) => n.mac === mac);
    if (node?.phase === 'done') return node;
    if (Date.now() > deadline) throw new Error(`node ${mac} not done within ${timeoutMs} ms: ${JSON.stringify(node)}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}
