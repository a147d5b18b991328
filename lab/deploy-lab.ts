/**
 * The deployment lab shared by the end-to-end test, the fault tests and
 * `imgsrv lab demo`: a lab network, `imgsrv serve` with full DHCP, the
 * compact sample OS served by an rsync daemon and captured as `sample@1`,
 * and that image set for blank nodes; optionally with image signing
 * configured (the test-only key in the data dir before the netboot
 * environment is built, so nodes trust it and the server signs with it).
 * VMs are the caller's.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyIdOf } from '../images/signing.ts';
import { Lab, sh, sweepStaleLabs, type LabHost } from './netns.ts';
import { IMGSRV, provideNetboot, startLabServer, type LabServer } from './imgsrv.ts';
import { startVm, type Vm, type VmOptions } from './qemu.ts';
import { buildSampleOs, startSampleOsHost, type SampleOs, type SampleOsHost } from './sample-os.ts';

/** Settings that differ between the users of the lab. */
export interface DeployLabOptions {
  /** Work directory (server data, disks, serial logs). */
  work: string;
  promptTimeout: number;
  /** swarm.uploadLimit, e.g. "4Mbit", to stretch a deployment so faults can land mid-way. */
  uploadLimit?: string;
  httpPort?: number;
  /** Configure image signing with the test-only key pair (testdata/test-only-signing-key): nodes refuse unsigned images. */
  signing?: boolean;
  /** Memory of each blank VM (default 1024 MiB; the netboot environment keeps the downloaded image in RAM). */
  nodeMemoryMiB?: number;
  /** boot.uefiLoader: shimx64.efi for Secure Boot nodes (default iPXE). */
  uefiLoader?: 'ipxe.efi' | 'snponly.efi' | 'shimx64.efi';
}

/**
 * A fixed, public, TEST-ONLY signing key pair (see its README): fixed so the
 * netboot build that embeds its public half stays cached between runs.
 */
export const TEST_SIGNING_KEY_DIR = join(import.meta.dirname, 'test-only-signing-key');
/** The key id of the test-only signing key. */
export const TEST_SIGNING_KEY_ID = keyIdOf(readFileSync(join(TEST_SIGNING_KEY_DIR, 'ed25519.pub'), 'utf8'));

/** A running deployment lab. */
export interface DeployLab {
  lab: Lab;
  srv: LabHost;
  server: LabServer;
  sample: SampleOsHost;
  os: SampleOs;
  /** Seconds the capture took. */
  captureSeconds: number;
  /** The id of the key the server signs with and nodes trust, when signing is configured. */
  signingKeyId: string | undefined;
  /** Stop `imgsrv serve` and start it again on the same data and config (a server restart). */
  restartServer(pauseMs?: number): Promise<void>;
  /** A blank VM (sparse raw disk of `diskSize`, NIC first then disk, reboots allowed) whose serial log goes to the work dir. */
  blankVm(o: Pick<VmOptions, 'name' | 'firmware' | 'mac' | 'diskBus' | 'diskSerial' | 'extraDisks' | 'secureBoot' | 'nicRom'> & { diskSize?: string; disk?: string }): Promise<Vm>;
  /** `imgsrv nodes ls --json`. */
  nodes(): Promise<Array<Record<string, unknown> & { mac: string }>>;
  destroy(): Promise<void>;
}

/** The server side of a deployment lab, without its sample: what this lab and the Debian one (debian-lab.ts) share. */
export type LabImgsrv = Omit<DeployLab, 'sample' | 'os' | 'captureSeconds'>;

/**
 * `imgsrv serve` with full DHCP in a new host `srv` (198.18.0.1) of `lab`,
 * with the netboot environment (and the signing key when asked), and blank
 * VMs on demand. Its `destroy` stops the VMs and the server; the lab is the caller's.
 */
export async function startLabImgsrv(lab: Lab, o: DeployLabOptions): Promise<LabImgsrv> {
  const vms: Vm[] = [];
  let server: LabServer | undefined;
  const destroy = async (): Promise<void> => {
    await Promise.all(vms.splice(0).map((v) => v.stop()));
    await server?.stop();
  };
  try {
    const srv = await lab.addHost('srv', '198.18.0.1/24');
    const data = join(o.work, 'data');
    // Where `imgsrv keys generate` would put the key pair; before the netboot build, which takes the public half.
    if (o.signing) {
      mkdirSync(join(data, 'signing'), { recursive: true, mode: 0o700 });
      copyFileSync(join(TEST_SIGNING_KEY_DIR, 'ed25519.pub'), join(data, 'signing', 'ed25519.pub'));
      copyFileSync(join(TEST_SIGNING_KEY_DIR, 'ed25519.key'), join(data, 'signing', 'ed25519.key'));
      chmodSync(join(data, 'signing', 'ed25519.key'), 0o600);
    }
    await provideNetboot(data);
    const config = join(o.work, 'imgsrv.yaml');
    writeFileSync(
      config,
      [
        'deploy:',
        `  promptTimeout: ${o.promptTimeout}`,
        'swarm:',
        // The swarm counts as done soon after the last node has the image.
        '  settle: 3',
        '  linger: 120',
        ...(o.uploadLimit ? [`  uploadLimit: ${o.uploadLimit}`] : []),
        'http:',
        `  port: ${o.httpPort ?? 8080}`,
        ...(o.uefiLoader ? ['boot:', `  uefiLoader: ${o.uefiLoader}`] : []),
        '',
      ].join('\n'),
    );
    const args = ['--config', config, '--interface', 'eth0', '--dhcp', 'full', '--range', '198.18.0.100-198.18.0.199'];
    server = await startLabServer(srv, args, { data });
    return {
      lab,
      srv,
      get server() {
        return server!;
      },
      signingKeyId: o.signing ? TEST_SIGNING_KEY_ID : undefined,
      async restartServer(pauseMs = 3000) {
        await server!.stop();
        await new Promise((r) => setTimeout(r, pauseMs));
        server = await startLabServer(srv, args, { data });
      },
      async blankVm(v) {
        const disk = v.disk ?? join(o.work, `${v.name}.raw`);
        if (!v.disk) await sh('truncate', ['-s', v.diskSize ?? '1G', disk]);
        const vm = await startVm(lab, { ...v, netboot: true, allowReboot: true, memoryMiB: o.nodeMemoryMiB ?? 1024, disk, serialLog: join(o.work, `${v.name}.serial.log`) });
        vms.push(vm);
        return vm;
      },
      async nodes() {
        return JSON.parse(await server!.cli(['nodes', 'ls', '--json'])) as Array<Record<string, unknown> & { mac: string }>;
      },
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}

/** How a variant of the lab changes its sample (big-deploy-lab.ts). */
export interface SampleVariant {
  /** Called with the sample's root tree before it is served. */
  addToSample?: (root: string) => void;
  /** The capture's time limit, for a sample bigger than the CLI helper's minute allows. */
  captureTimeoutMs?: number;
}

/** Build the lab, capture the sample OS, and set it as the image blank nodes get. */
export async function startDeployLab(o: DeployLabOptions, variant: SampleVariant = {}): Promise<DeployLab> {
  mkdirSync(o.work, { recursive: true });
  await sweepStaleLabs();
  const os = await buildSampleOs(join(o.work, 'sample'));
  variant.addToSample?.(os.root);
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
    const capture = ['capture', sample.rsyncUrl, '--name', 'sample'];
    if (variant.captureTimeoutMs === undefined) await b.server.cli(capture);
    else await b.srv.exec(IMGSRV, ['--data', b.server.data, ...capture], { timeoutMs: variant.captureTimeoutMs });
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
