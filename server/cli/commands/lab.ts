/**
 * `imgsrv lab up|down`: the lab on this machine, for seeing imgsrv work in
 * minutes without hardware. Network namespaces joined by a bridge in
 * 198.18.0.0/15 (no route out), `imgsrv serve` in one of them, and blank
 * QEMU VMs (SeaBIOS+iPXE and OVMF, alternating) that network-boot from it.
 * Everything it creates is removed on exit, Ctrl-C included.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ImgsrvError } from '../../../core/errors.ts';
import { dataPaths } from '../../data-dir.ts';
import { createRootLogger } from '../../../core/log.ts';
import type { GlobalOptions } from '../args.ts';

interface LabFlags {
  nodes: number;
  timeout: number;
  exit?: boolean;
}

const REPO = resolve(import.meta.dirname, '..', '..', '..');

export function registerLab(program: Command): void {
  const lab = program.command('lab').description('a lab on this machine: namespaces, imgsrv serve, blank QEMU VMs');
  lab
    .command('up')
    .description('build the lab, boot blank VMs from imgsrv and show them register; Ctrl-C tears everything down')
    .option('--nodes <n>', 'number of VMs (odd: BIOS, even: UEFI)', parseCount, 2)
    .option('--timeout <seconds>', 'how long to wait for the VMs to boot', parseCount, 300)
    .option('--exit', 'tear down as soon as every VM has registered (for scripts)')
    .action(async (flags: LabFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (process.getuid?.() !== 0) throw new ImgsrvError('BAD_USAGE', 'the lab needs root (network namespaces, taps)', { hint: 'run it with sudo' });
      // The lab keeps its state apart from a real server's unless --data is given.
      const data = cmd.parent?.parent?.getOptionValueSource('data') === 'default' ? join(REPO, 'var', 'lab') : resolve(g.data);
      await labUp(data, flags);
    });
  lab
    .command('demo')
    .description('the whole mission: capture a sample OS, restore it onto blank BIOS and UEFI VMs, reboot them into it, check each answers')
    .option('--nodes <n>', 'number of VMs (odd: BIOS and asked their hostname, even: UEFI with one pre-assigned)', parseCount, 2)
    .option('--timeout <seconds>', 'how long every VM may take to come up restored', parseCount, 1200)
    .option('--prompt <seconds>', 'how long the hostname prompt waits before taking the suggestion', parseCount, 20)
    .option('--keep', 'keep the lab running at the end until Ctrl-C')
    .addOption(
      new Option('--sample <kind>', 'busybox: a compact OS served by rsync (fast); debian: Debian 12 built with debootstrap (cached), booted as a VM and captured over ssh')
        .choices(['busybox', 'debian'])
        .default('busybox'),
    )
    .action(async (flags: { nodes: number; timeout: number; prompt: number; keep?: boolean; sample: 'busybox' | 'debian' }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (process.getuid?.() !== 0) throw new ImgsrvError('BAD_USAGE', 'the lab needs root (network namespaces, taps)', { hint: 'run it with sudo' });
      const dir = cmd.parent?.parent?.getOptionValueSource('data') === 'default' ? join(REPO, 'var', 'lab-demo') : resolve(g.data);
      const { runDemo } = await import('../../../lab/demo.ts');
      const say = (s: string) => process.stdout.write(`demo: ${s}\n`);
      const ac = new AbortController();
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => ac.abort());
      const rows = await runDemo({
        dir,
        nodes: flags.nodes,
        timeoutSec: flags.timeout,
        promptSec: flags.prompt,
        sample: flags.sample,
        say,
        ...(flags.keep ? { keepRunning: () => new Promise<void>((r) => ac.signal.addEventListener('abort', () => r(), { once: true })) } : {}),
      });
      const { printList } = await import('../output.ts');
      process.stdout.write('\n');
      printList(
        rows,
        [
          ['vm', (n) => n.name],
          ['firmware', (n) => n.firmware],
          ['mac', (n) => n.mac],
          ['hostname', (n) => n.hostname],
          ['ip', (n) => n.ip],
          ['up after', (n) => (n.upSeconds === null ? 'never' : `${n.upSeconds} s`)],
          ['app', (n) => (n.appAnswers ? 'answers' : 'FAILED')],
        ],
        false,
      );
      if (rows.some((n) => !n.appAnswers)) process.exitCode = 1;
    });
  lab
    .command('down')
    .description('remove namespaces and processes left by a lab that was killed')
    .action(async () => {
      const { sweepStaleLabs } = await import('../../../lab/netns.ts');
      const removed = await sweepStaleLabs();
      process.stdout.write(removed.length ? `removed ${removed.join(', ')}\n` : 'nothing to remove\n');
    });
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('must be a whole number from 1 to 64');
  return n;
}

async function labUp(data: string, flags: LabFlags): Promise<void> {
  const { Lab, sweepStaleLabs } = await import('../../../lab/netns.ts');
  const { startLabServer } = await import('../../../lab/imgsrv.ts');
  const { startVm } = await import('../../../lab/qemu.ts');
  const log = createRootLogger('warn');
  const say = (s: string) => process.stdout.write(`lab: ${s}\n`);

  if (!existsSync(join(dataPaths(data).netbootDir, 'initrd.img'))) {
    say('building the netboot environment (once)…');
    const { buildNetboot } = await import('../../netboot-env/build.ts');
    await buildNetboot({ outDir: dataPaths(data).netbootDir, logger: log });
  }
  await sweepStaleLabs();
  const lab = await Lab.create();
  const vms: Array<{ stop(): Promise<void> }> = [];
  let stopping = false;
  const teardown = async () => {
    if (stopping) return;
    stopping = true;
    say('tearing down…');
    await Promise.all(vms.map((v) => v.stop()));
    await lab.destroy();
  };
  process.once('SIGINT', () => void teardown().then(() => process.exit(0)));
  process.once('SIGTERM', () => void teardown().then(() => process.exit(0)));
  try {
    const srv = await lab.addHost('srv', '198.18.0.1/24');
    const server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'full', '--range', '198.18.0.100-198.18.0.199', '--http-port', '80'], { data });
    say(`imgsrv serving in namespace ${srv.ns} at http://198.18.0.1 (data ${data})`);
    const started = Date.now();
    const macs: string[] = [];
    for (let i = 1; i <= flags.nodes; i++) {
      const firmware = i % 2 === 1 ? 'bios' : 'uefi';
      const mac = `52:54:00:1a:b0:${i.toString(16).padStart(2, '0')}`;
      macs.push(mac);
      vms.push(await startVm(lab, { name: `node${i}`, firmware, mac, netboot: true }));
      say(`VM node${i}: ${firmware}, ${mac}, booting from the network`);
    }
    const seen = new Map<string, number>();
    const deadline = Date.now() + flags.timeout * 1000;
    while (seen.size < macs.length) {
      if (Date.now() > deadline) throw new ImgsrvError('INTERNAL', `only ${seen.size} of ${macs.length} VMs registered in ${flags.timeout} s`, { hint: 'see the server log above' });
      await new Promise((r) => setTimeout(r, 2000));
      const nodes = JSON.parse(await server.cli(['nodes', 'ls', '--json'])) as Array<{ mac: string; phase: string; ip: string; firmware: string }>;
      for (const n of nodes) {
        if (n.phase === 'booted' && !seen.has(n.mac)) {
          seen.set(n.mac, Date.now() - started);
          say(`${n.mac} booted: ${n.firmware}, ${n.ip}, ${((Date.now() - started) / 1000).toFixed(0)} s after power-on`);
        }
      }
    }
    process.stdout.write('\n' + (await server.cli(['nodes', 'ls'])) + '\n');
    if (flags.exit) return;
    say(`running; inspect with: ip netns exec ${srv.ns} ${join(REPO, 'bin', 'imgsrv')} --data ${data} nodes ls — Ctrl-C to tear down`);
    await new Promise(() => undefined);
  } finally {
    await teardown();
  }
}
