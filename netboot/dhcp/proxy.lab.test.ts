/**
 * Lab: proxyDHCP beside an existing DHCP server. dnsmasq (in its own namespace)
 * hands out addresses; our server, in proxy mode, only adds boot information
 * for PXE clients: a scripted PXE client, then real firmware under QEMU (EDK2
 * PXE in OVMF, SeaBIOS with the iPXE ROM), whose next request (TFTP RRQ or
 * HTTP GET) is observed by a stand-in listener.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, stopChild, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { OBSERVER, runScript, startRunner, startScript, type Runner } from '../../lab/dhcp/control.ts';

const ok = await labAvailable();
const STABLE = '198.18.0.2';
const DNSMASQ = '198.18.0.3';
const PXE_CLIENT = join(import.meta.dirname, 'testdata', 'pxe-client.ts');
type Summary = { type: number; serverId: string; yiaddr: string; siaddr: string; file: string; vendorClass?: string; vendorSpecific?: string; uuid?: string };

describe.skipIf(!ok)('proxyDHCP coexisting with dnsmasq', () => {
  let lab: Lab;
  let srv: LabHost;
  let proxy: Runner;
  let observer: Runner;
  let tmp: string;
  let dnsmasqLog = '';

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = mkdtempSync(join(tmpdir(), 'imgsrv-dhcp-proxy-'));
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    await srv.exec('ip', ['addr', 'add', `${STABLE}/24`, 'dev', 'eth0']);
    const dhcp = await lab.addHost('dnsmasq', `${DNSMASQ}/24`);
    // "The existing DHCP server": addresses only, no boot options, no DNS, nothing on disk.
    const dm = dhcp.spawn('dnsmasq', [
      '--no-daemon', '--port=0', '--conf-file=/dev/null', '--leasefile-ro', '--bind-interfaces', '--interface=eth0',
      '--pid-file=', '--dhcp-range=198.18.0.150,198.18.0.199,255.255.255.0,10m', '--log-dhcp', '--log-facility=-',
    ]);
    dm.stderr?.on('data', (d: Buffer) => (dnsmasqLog += d.toString()));
    dm.stdout?.on('data', (d: Buffer) => (dnsmasqLog += d.toString()));
    dm.on('exit', (code) => (dnsmasqLog += `\n[dnsmasq exited ${code}]`));
    proxy = await startRunner(srv, { mode: 'proxy', serverAddress: STABLE, subnet: { address: '198.18.0.0', prefix: 24 } });
    observer = await startScript(srv, OBSERVER, [STABLE]);
    await new Promise((r) => setTimeout(r, 500)); // dnsmasq binds quickly but has no ready line
  });
  afterAll(async () => {
    await proxy?.stop();
    await observer?.stop();
    await lab?.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('a PXE client gets its address from dnsmasq and its boot file from us (offer on 67, ACK on 4011)', async () => {
    const c = await lab.addHost('pxe', undefined, { mac: '02:00:00:00:0d:01' });
    // dnsmasq pings an address before offering it (~3 s); a PXE ROM waits at least that long.
    const res = (await runScript(c, PXE_CLIENT, [JSON.stringify({ mac: '02:00:00:00:0d:01', arch: 7, collectMs: 5000 })])) as { offers: Summary[]; ack?: Summary; proxyAck?: Summary };
    const fromDnsmasq = res.offers.find((o) => o.serverId === DNSMASQ);
    const fromUs = res.offers.find((o) => o.serverId === STABLE);
    if (!fromDnsmasq) throw new Error(`no offer from dnsmasq: ${JSON.stringify(res)}\n${dnsmasqLog}`);
    expect(fromDnsmasq.yiaddr).toMatch(/^198\.18\.0\.1[5-9]\d$/);
    expect(fromUs).toMatchObject({ yiaddr: '0.0.0.0', siaddr: STABLE, file: 'ipxe.efi', vendorClass: 'PXEClient', uuid: '00' + '42'.repeat(16) });
    expect(fromUs?.vendorSpecific?.startsWith('060108')).toBe(true); // discovery control = 8
    expect(res.ack?.serverId).toBe(DNSMASQ);
    expect(res.proxyAck).toMatchObject({ type: 5, serverId: STABLE, file: 'ipxe.efi' });
  });

  it('leaves non-PXE clients to dnsmasq', async () => {
    const c = await lab.addHost('plain', undefined, { mac: '02:00:00:00:0d:02' });
    const out = await c.exec('sh', ['-c', 'exec busybox udhcpc -i eth0 -f -q -n -t 4 -T 2 -s /bin/true 2>&1']);
    expect(out).toMatch(/obtained from 198\.18\.0\.3/);
    expect(proxy.lines.some((l) => JSON.stringify(l).includes('02:00:00:00:0d:02'))).toBe(false);
  });

  const qemu = async (name: string, mac: string, extra: string[], nic: string): Promise<ReturnType<LabHost['spawn']>> => {
    const tap = await lab.addTap(`tap${name}`);
    return lab.switch.spawn('qemu-system-x86_64', [
      '-machine', 'q35', '-m', '256', '-nographic', '-no-reboot', '-boot', 'n', ...extra,
      '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${mac}${nic}`,
    ]);
  };

  it('OVMF (EDK2 PXE, no option ROM) takes our proxy offer and asks TFTP for ipxe.efi', async () => {
    const vars = join(tmp, 'OVMF_VARS.fd');
    copyFileSync('/usr/share/OVMF/OVMF_VARS.fd', vars);
    const vm = await qemu('ovmf', '52:54:00:0d:00:03', ['-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd', '-drive', `if=pflash,format=raw,file=${vars}`], ',romfile=');
    vm.stdout?.resume();
    try {
      const rrq = await observer.waitFor((l) => l.rrq !== undefined && l.from !== undefined, 300_000);
      expect(rrq.rrq).toBe('ipxe.efi');
      expect(String(rrq.from)).toMatch(/^198\.18\.0\.1[5-9]\d$/); // the address dnsmasq gave it
    } finally {
      await stopChild(vm);
    }
  });

  it('SeaBIOS + iPXE ROM takes our proxy offer and fetches its script over HTTP', async () => {
    const vm = await qemu('seabios', '52:54:00:0d:00:04', [], '');
    vm.stdout?.resume();
    try {
      const get = await observer.waitFor((l) => typeof l.http === 'string', 300_000);
      // iPXE percent-encodes the colons of the URL we gave it: the HTTP route must decode them.
      expect(decodeURIComponent(String(get.http))).toBe('GET /boot/ipxe/52:54:00:0d:00:04 HTTP/1.1');
    } finally {
      await stopChild(vm);
    }
  });
});
