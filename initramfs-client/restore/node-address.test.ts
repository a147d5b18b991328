// A node's own static address, in each format the restored system reads.
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeAddressProblem, parsePlan } from '../../contract/plan.ts';
import { writeNodeAddress } from './node-address.ts';

const tmp = mkdtempSync(join(tmpdir(), 'imgsrv-addr-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MAC = '52:54:00:0a:00:21';
const NET = { address: '198.18.0.21/24', gateway: '198.18.0.1', dns: ['198.18.0.53', '198.18.0.54'] };

function tree(name: string, files: Record<string, string>): string {
  const root = join(tmp, name);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

describe('writeNodeAddress', () => {
  it('systemd-networkd (Debian): a .network file matched by the MAC that sorts before the image\'s own', async () => {
    const root = tree('networkd', { 'usr/lib/systemd/systemd-networkd': '', 'etc/systemd/network/10-sample.network': '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' });
    symlinkSync('usr/lib', join(root, 'lib'));
    const r = await writeNodeAddress(root, MAC, NET);
    expect(r.written).toEqual(['etc/systemd/network/05-imgsrv-static.network']);
    const text = readFileSync(join(root, r.written[0]!), 'utf8');
    expect(text).toContain(`[Match]\nMACAddress=${MAC}\n`);
    expect(text).toContain('[Network]\nAddress=198.18.0.21/24\nGateway=198.18.0.1\nDNS=198.18.0.53\nDNS=198.18.0.54\n');
    // networkd applies the first .network file (in name order) that matches.
    expect(['05-imgsrv-static.network', '10-sample.network'].sort()[0]).toBe('05-imgsrv-static.network');
    expect(r.notes).toEqual([`static address 198.18.0.21/24 via 198.18.0.1 set on ${MAC} (etc/systemd/network/05-imgsrv-static.network)`]);
  });

  it('NetworkManager (RHEL, Fedora): a root-only keyfile with the MAC and a high autoconnect priority', async () => {
    const root = tree('nm', { 'usr/sbin/NetworkManager': '' });
    const r = await writeNodeAddress(root, MAC, { address: '198.18.0.22/24' });
    expect(r.written).toEqual(['etc/NetworkManager/system-connections/imgsrv-static.nmconnection']);
    const file = join(root, r.written[0]!);
    expect(lstatSync(file).mode & 0o777).toBe(0o600); // NetworkManager ignores keyfiles others can read
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\[connection\]\nid=imgsrv-static\nuuid=[0-9a-f-]{36}\ntype=ethernet\nautoconnect=true\nautoconnect-priority=100\n/m);
    expect(text).toContain('[ethernet]\nmac-address=52:54:00:0A:00:21\n');
    expect(text).toContain('[ipv4]\nmethod=manual\naddress1=198.18.0.22/24\n');
    expect(text).not.toContain('dns=');
  });

  it('netplan (Ubuntu): one file whose id sorts first; networkd and NetworkManager files are then netplan\'s to make', async () => {
    const root = tree('netplan', { 'etc/netplan/50-cloud-init.yaml': 'network:\n  version: 2\n  ethernets:\n    eth0:\n      match: { name: "e*" }\n      dhcp4: true\n', 'usr/lib/systemd/systemd-networkd': '', 'usr/sbin/NetworkManager': '' });
    const r = await writeNodeAddress(root, MAC, NET);
    expect(r.written).toEqual(['etc/netplan/90-imgsrv-static.yaml']);
    const text = readFileSync(join(root, r.written[0]!), 'utf8');
    expect(text).toBe(
      [
        "# imgsrv: this node's own address (imgsrv nodes set … --address)",
        'network:',
        '  version: 2',
        '  ethernets:',
        '    00-imgsrv-static:',
        '      match:',
        `        macaddress: "${MAC}"`,
        '      dhcp4: false',
        '      addresses: ["198.18.0.21/24"]',
        '      routes:',
        '        - to: default',
        '          via: 198.18.0.1',
        '      nameservers:',
        '        addresses: ["198.18.0.53", "198.18.0.54"]',
        '',
      ].join('\n'),
    );
    expect(lstatSync(join(root, r.written[0]!)).mode & 0o777).toBe(0o600); // netplan warns about readable files
  });

  it('ifupdown only, or nothing it knows: writes nothing and says what to do instead', async () => {
    const ifupdown = tree('ifupdown', { 'etc/network/interfaces': 'auto lo\niface lo inet loopback\n', 'sbin/ifup': '' });
    const r = await writeNodeAddress(ifupdown, MAC, NET);
    expect(r.written).toEqual([]);
    expect(r.notes[0]).toMatch(/the image uses ifupdown only.*imgsrv settings reserve 52:54:00:0a:00:21 198\.18\.0\.21/);
    expect((await writeNodeAddress(tree('none', { 'etc/hostname': 'x\n' }), MAC, NET)).notes[0]).toMatch(/none of systemd-networkd, NetworkManager or netplan/);
  });

  it('never writes through a symlinked directory out of the tree', async () => {
    const root = tree('evil', { 'usr/lib/systemd/systemd-networkd': '' });
    mkdirSync(join(root, 'etc/systemd'), { recursive: true });
    writeFileSync(join(root, 'etc/systemd/network'), 'a file, not a directory');
    await expect(writeNodeAddress(root, MAC, NET)).rejects.toThrow(/not a directory/);
  });
});

describe('node addresses in the plan', () => {
  it('checks the address where it comes off the network', () => {
    expect(nodeAddressProblem({ address: '198.18.0.21/24', gateway: '198.18.0.1' })).toBeUndefined();
    expect(nodeAddressProblem({ address: '198.18.0.21' })).toMatch(/not IPv4 CIDR/);
    expect(nodeAddressProblem({ address: '198.18.0.21/33' })).toMatch(/not IPv4 CIDR/);
    expect(nodeAddressProblem({ address: '198.18.0.21/24', dns: ['x;reboot'] })).toMatch(/dns/);
    const plan = { action: 'restore', image: { name: 'a', version: 1 }, torrentUrl: 'rsync://x/t', meta: {}, hostname: { suggestion: 'n', promptTimeoutSec: 0 }, keep: [], linger: 1 };
    expect(parsePlan(plan)).toMatchObject({ network: null });
    expect(() => parsePlan({ ...plan, network: { address: '1.2.3.4/24\nAddress=6.6.6.6/8' } })).toThrow(/a good network address/);
  });
});
