import { access, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { networkToDhcp, unpinNetplan, unpinNetwork } from './network-config.ts';
import { personalise } from './personalise.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'personalise-'));
  await mkdir(join(root, 'etc'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});
async function put(rel: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await writeFile(join(root, rel), text);
}
const get = (rel: string): Promise<string> => readFile(join(root, rel), 'utf8');
const exists = (rel: string): Promise<boolean> => access(join(root, rel)).then(() => true, () => false);

const SAMPLE_MAC = '52:54:00:aa:bb:01';
const OTHER_MAC = '52:54:00:aa:bb:99';

describe('personalise', () => {
  it('sets hostname and hosts, renews machine ids, leaves an empty machine-id empty', async () => {
    await put('etc/hostname', 'sample\n');
    await put('etc/hosts', '127.0.0.1\tlocalhost\n127.0.1.1\tsample.lan sample # installer\n::1 localhost ip6-localhost\n10.0.0.5 sample-db\n');
    await put('etc/machine-id', 'a'.repeat(32) + '\n');
    await put('var/lib/dbus/machine-id', 'a'.repeat(32) + '\n');
    const res = await personalise(root, { hostname: 'node-7', log: silentLogger });
    expect(await get('etc/hostname')).toBe('node-7\n');
    expect(await get('etc/hosts')).toBe('127.0.0.1\tlocalhost\n127.0.1.1\tnode-7.lan node-7 # installer\n::1 localhost ip6-localhost\n10.0.0.5 sample-db\n');
    const id = await get('etc/machine-id');
    expect(id).toMatch(/^[0-9a-f]{32}\n$/);
    expect(id).not.toBe('a'.repeat(32) + '\n');
    expect(await get('var/lib/dbus/machine-id')).toBe(id);
    expect(res.changed).toEqual(['etc/hostname', 'etc/hosts', 'etc/machine-id', 'var/lib/dbus/machine-id']);

    // a second node gets another id; an empty machine-id (first-boot generation) stays empty
    await put('etc/machine-id', '');
    await rm(join(root, 'var/lib/dbus/machine-id'));
    await symlink('/etc/machine-id', join(root, 'var/lib/dbus/machine-id'));
    await personalise(root, { hostname: 'node-8', sampleHostname: 'node-7', log: silentLogger });
    expect(await get('etc/machine-id')).toBe('');
  });

  it('adds 127.0.1.1 when no loopback line names the host, and refuses a bad hostname', async () => {
    await put('etc/hosts', '127.0.0.1 localhost\n::1 localhost\n');
    await personalise(root, { hostname: 'web-3', sampleHostname: 'golden', log: silentLogger });
    expect(await get('etc/hosts')).toBe('127.0.0.1 localhost\n127.0.1.1\tweb-3\n::1 localhost\n');
    await expect(personalise(root, { hostname: 'bad_name', log: silentLogger })).rejects.toThrow(/bad hostname/);
    // a sample named "localhost" keeps its localhost lines
    await put('etc/hosts', '127.0.0.1 localhost\n');
    await personalise(root, { hostname: 'web-4', sampleHostname: 'localhost', log: silentLogger });
    expect(await get('etc/hosts')).toBe('127.0.0.1 localhost\n127.0.1.1\tweb-4\n');
  });

  it('removes NIC pinning to the sample MACs and reports /etc/network/interfaces', async () => {
    await put('etc/udev/rules.d/70-persistent-net.rules', `SUBSYSTEM=="net", ATTR{address}=="${SAMPLE_MAC}", NAME="eth0"\n`);
    await put('etc/udev/rules.d/99-local.rules', '# keep\n');
    await put('etc/systemd/network/10-lan.link', `[Match]\nMACAddress=${SAMPLE_MAC.toUpperCase()}\n[Link]\nName=lan0\n`);
    await put('etc/systemd/network/20-other.link', `[Match]\nMACAddress=${OTHER_MAC}\n[Link]\nName=lan9\n`);
    await put('etc/systemd/network/30-lan.network', `[Match]\nMACAddress=${SAMPLE_MAC}\n\n[Network]\nDHCP=yes\n`);
    await put('etc/netplan/50-cloud-init.yaml', `network:\n  version: 2\n  ethernets:\n    eth0:\n      match:\n        macaddress: "${SAMPLE_MAC}"\n      set-name: eth0\n      dhcp4: true\n`);
    await put('etc/network/interfaces', 'auto lo\niface lo inet loopback\nauto eth0\niface eth0 inet dhcp\n');
    const res = await personalise(root, { hostname: 'n1', sampleMacs: [SAMPLE_MAC], log: silentLogger });
    expect(await exists('etc/udev/rules.d/70-persistent-net.rules')).toBe(false);
    expect(await exists('etc/udev/rules.d/99-local.rules')).toBe(true);
    expect(await exists('etc/systemd/network/10-lan.link')).toBe(false);
    expect(await exists('etc/systemd/network/20-other.link')).toBe(true);
    expect(await get('etc/systemd/network/30-lan.network')).toBe('[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n');
    expect(await get('etc/netplan/50-cloud-init.yaml')).toBe('network:\n  version: 2\n  ethernets:\n    eth0:\n      match:\n        name: "e*"\n      dhcp4: true\n');
    expect(await get('etc/network/interfaces')).toBe('auto lo\niface lo inet loopback\nauto eth0\niface eth0 inet dhcp\n');
    expect(res.notes.join('\n')).toMatch(/etc\/network\/interfaces configures eth0/);
    expect(res.removed).toEqual(['etc/udev/rules.d/70-persistent-net.rules', 'etc/systemd/network/10-lan.link']);
  });
});

describe('unpinNetwork / unpinNetplan', () => {
  const any = (): boolean => true;
  it('drops only the MAC when [Match] has other keys, and leaves other MACs', () => {
    expect(unpinNetwork(`[Match]\nName=eth0\nMACAddress=${SAMPLE_MAC}\n`, any)).toBe('[Match]\nName=eth0\n');
    const other = `[Match]\nMACAddress=${OTHER_MAC}\n`;
    expect(unpinNetwork(other, (m) => m === SAMPLE_MAC)).toBe(other);
    // a MACAddress= under [Link] is the address to set, not a match
    const link = `[Match]\nName=e*\n[Link]\nMACAddress=${SAMPLE_MAC}\n`;
    expect(unpinNetwork(link, any)).toBe(link);
  });
  it('rewrites flow-style matches and keeps comments', () => {
    const y = `# from the installer\nnetwork:\n  ethernets:\n    id0:\n      match: {macaddress: '${SAMPLE_MAC}'}\n      set-name: ens3\n      dhcp4: yes\n`;
    expect(unpinNetplan(y, any).text).toBe(`# from the installer\nnetwork:\n  ethernets:\n    id0:\n      match: {name: "e*"}\n      dhcp4: yes\n`);
  });

  it('turns the static address of a .network pinned to the sample into DHCP: every clone would claim it', () => {
    const pinned = `[Match]\nMACAddress=${SAMPLE_MAC}\n\n[Network]\nAddress=198.18.0.50/24\nGateway=198.18.0.1\nDNS=198.18.0.53\n`;
    const { text, dropped } = networkToDhcp(unpinNetwork(pinned, any));
    expect(text).toBe('[Match]\nName=en* eth*\n\n[Network]\nDNS=198.18.0.53\nDHCP=yes\n');
    expect(dropped).toEqual(['198.18.0.50/24']);
    // [Address] sections go too; an existing DHCP=no becomes yes; what came after [Network] stays
    const sections = '[Match]\nName=en*\n[Network]\nDHCP=no\n[Address]\nAddress=198.18.0.51/24\n[Route]\nDestination=198.19.0.0/16\n';
    expect(networkToDhcp(sections)).toEqual({ text: '[Match]\nName=en*\n[Network]\nDHCP=yes\n[Route]\nDestination=198.19.0.0/16\n', dropped: ['198.18.0.51/24'] });
    // no static address: unchanged
    const dhcp = '[Match]\nName=en*\n\n[Network]\nDHCP=ipv4\n';
    expect(networkToDhcp(dhcp)).toEqual({ text: dhcp, dropped: [] });
  });

  it('turns a netplan stanza pinned to the sample from static addresses to DHCP, other stanzas untouched', () => {
    const y = [
      'network:',
      '  version: 2',
      '  ethernets:',
      '    lan:',
      '      match:',
      `        macaddress: "${SAMPLE_MAC}"`,
      '      set-name: lan',
      '      addresses:',
      '        - 198.18.0.50/24',
      '        - "2001:db8::50/64"',
      '      gateway4: 198.18.0.1',
      '      dhcp4: false',
      '      nameservers:',
      '        addresses: [198.18.0.53]',
      '    other:',
      '      match:',
      `        macaddress: "${OTHER_MAC}"`,
      '      addresses: [198.18.0.60/24]',
      '',
    ].join('\n');
    const { text, dropped } = unpinNetplan(y, (m) => m === SAMPLE_MAC);
    expect(dropped).toEqual(['198.18.0.50/24', '2001:db8::50/64']);
    expect(text).toBe(
      [
        'network:',
        '  version: 2',
        '  ethernets:',
        '    lan:',
        '      match:',
        '        name: "e*"',
        '      nameservers:',
        '        addresses: [198.18.0.53]',
        '      dhcp4: true',
        '    other:',
        '      match:',
        `        macaddress: "${OTHER_MAC}"`,
        '      addresses: [198.18.0.60/24]',
        '',
      ].join('\n'),
    );
  });

  it('reports the static address it replaced, and a static stanza of etc/network/interfaces', async () => {
    await put('etc/systemd/network/10-lan.network', `[Match]\nMACAddress=${SAMPLE_MAC}\n[Network]\nAddress=198.18.0.50/24\n`);
    await put('etc/network/interfaces', 'auto eth0\niface eth0 inet static\n  address 198.18.0.50/24\n');
    const res = await personalise(root, { hostname: 'node-2', sampleMacs: [SAMPLE_MAC], log: silentLogger });
    expect(await get('etc/systemd/network/10-lan.network')).toBe('[Match]\nName=en* eth*\n[Network]\nDHCP=yes\n');
    expect(res.notes.join('\n')).toMatch(/10-lan\.network gave the sample the static address 198\.18\.0\.50\/24; this node uses DHCP instead/);
    expect(res.notes.join('\n')).toMatch(/etc\/network\/interfaces gives eth0 a static address/);
  });
});
