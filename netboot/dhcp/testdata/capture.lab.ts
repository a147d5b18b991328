/**
 * Regenerate the golden DHCP fixtures from real clients (run as root):
 *   node_modules/.bin/node netboot/dhcp/testdata/capture.lab.ts [udhcpc dhclient seabios ovmf]
 * Builds a lab, runs our full-mode server with packet capture, then lets busybox
 * udhcpc, ISC dhclient, QEMU SeaBIOS + iPXE ROM, QEMU OVMF with the iPXE EFI ROM
 * (ipxe-qemu's efi-virtio.rom takes over the boot) and OVMF with no option ROM
 * (EDK2's own VirtioNetDxe + PxeBcDxe: the real UEFI PXE client) each do a
 * DHCP exchange. The first DISCOVER and REQUEST of each are saved as
 * `<client>-<type>.hex` with a readable `<client>-<type>.json` decode beside them.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, stopChild, sweepStaleLabs, type LabHost } from '../../../lab/netns.ts';
import { decode } from '../codec.ts';
import { startRunner, type Runner } from '../../../lab/dhcp/control.ts';
import { readableJson } from './readable.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const want = new Set(process.argv.slice(2).length ? process.argv.slice(2) : ['udhcpc', 'dhclient', 'seabios', 'ovmf-ipxe', 'ovmf']);
const MACS: Record<string, string> = {
  udhcpc: '02:00:00:00:0c:01',
  dhclient: '02:00:00:00:0c:02',
  'seabios-ipxe': '52:54:00:0c:00:03',
  'ovmf-ipxe': '52:54:00:0c:00:04',
  ovmf: '52:54:00:0c:00:05',
};

await sweepStaleLabs();
const tmp = mkdtempSync(join(tmpdir(), 'imgsrv-dhcp-capture-'));
const capDir = join(tmp, 'cap');
const lab = await Lab.create();
let runner: Runner | undefined;
try {
  const srv = await lab.addHost('srv', '198.18.0.1/24');
  runner = await startRunner(srv, {
    mode: 'full',
    serverAddress: '198.18.0.1',
    subnet: { address: '198.18.0.0', prefix: 24 },
    range: { first: '198.18.0.100', last: '198.18.0.150' },
    captureDir: capDir,
  });
  const r = runner;
  const sawRequest = (mac: string, timeoutMs: number) =>
    r.waitFor((l) => typeof l.captured === 'string' && l.captured.includes(`${mac.replace(/:/g, '')}-DHCPREQUEST`), timeoutMs);

  if (want.has('udhcpc')) {
    const h = await lab.addHost('udhcpc', undefined, { mac: MACS.udhcpc });
    await h.exec('busybox', ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '4', '-T', '1', '-s', '/bin/true', '-x', 'hostname:fixture']);
    await sawRequest(MACS.udhcpc!, 5000);
  }
  if (want.has('dhclient')) {
    const h = await lab.addHost('dhclient', undefined, { mac: MACS.dhclient });
    const pf = join(tmp, 'dhclient.pid');
    await h.exec('dhclient', ['-4', '-1', '-sf', '/bin/true', '-lf', join(tmp, 'dhclient.leases'), '-pf', pf, 'eth0']);
    await sawRequest(MACS.dhclient!, 5000);
    process.kill(Number(readFileSync(pf, 'utf8').trim()), 'SIGTERM');
  }
  if (want.has('seabios')) await qemu(lab, 'seabios-ipxe', [], '', sawRequest);
  for (const name of ['ovmf-ipxe', 'ovmf'] as const) {
    if (!want.has(name)) continue;
    const vars = join(tmp, `${name}-VARS.fd`);
    copyFileSync('/usr/share/OVMF/OVMF_VARS.fd', vars);
    const pflash = ['-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd', '-drive', `if=pflash,format=raw,file=${vars}`];
    await qemu(lab, name, pflash, name === 'ovmf' ? ',romfile=' : '', sawRequest);
  }

  // Keep the first DISCOVER and REQUEST of each client.
  for (const [client, mac] of Object.entries(MACS)) {
    for (const type of ['DHCPDISCOVER', 'DHCPREQUEST']) {
      const hit = readdirSync(capDir).sort().find((f) => f.includes(`${mac.replace(/:/g, '')}-${type}`));
      if (!hit) continue;
      const hex = readFileSync(join(capDir, hit), 'utf8').trim();
      const base = join(HERE, `${client}-${type.slice(4).toLowerCase()}`);
      writeFileSync(`${base}.hex`, hex.replace(/(.{64})/g, '$1\n').trim() + '\n');
      writeFileSync(`${base}.json`, readableJson(decode(Buffer.from(hex, 'hex'))));
      console.log(`wrote ${base}.hex`);
    }
  }
} finally {
  await runner?.stop();
  await lab.destroy();
  rmSync(tmp, { recursive: true, force: true });
}

/** Boot a diskless QEMU VM on a lab tap with `-boot n` until our server has seen its DHCPREQUEST. */
async function qemu(lab: Lab, name: string, firmware: string[], nicExtra: string, sawRequest: (mac: string, ms: number) => Promise<unknown>): Promise<void> {
  const tap = await lab.addTap(`tap${name.replace(/-/g, '').slice(0, 8)}`);
  const sw: LabHost = lab.switch;
  const vm = sw.spawn('qemu-system-x86_64', [
    '-machine', 'q35', '-m', '256', '-nographic', '-no-reboot', '-boot', 'n', ...firmware,
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=n0,mac=${MACS[name]}${nicExtra}`,
  ]);
  let out = '';
  vm.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await sawRequest(MACS[name]!, 300_000);
  } catch (err) {
    console.error(out.slice(-2000));
    throw err;
  } finally {
    await stopChild(vm);
  }
}
