/**
 * A node's own static address (the operator's `imgsrv nodes set MAC
 * --address 10.0.0.21/24 --gateway … --dns …`), written in the restored
 * system's own network configuration, matched by the node's MAC so it
 * applies to that NIC whatever the kernel names it:
 * - systemd-networkd: `etc/systemd/network/05-imgsrv-static.network`, which
 *   sorts before the image's own files (networkd applies the first match);
 * - NetworkManager: a keyfile `etc/NetworkManager/system-connections/
 *   imgsrv-static.nmconnection` (0600) with autoconnect-priority 100, so it
 *   wins over the image's profiles for that NIC;
 * - netplan: `etc/netplan/90-imgsrv-static.yaml`, whose ethernet id sorts
 *   first in the files netplan generates (so its networkd file wins too);
 * - ifupdown only: not written (its stanzas name interfaces, and the name
 *   the restored kernel gives the NIC is not known here): the result says so.
 * The image's DHCP configs (the sample's static ones were turned into DHCP,
 * network-config.ts) stay for any other NIC.
 */
import { randomUUID } from 'node:crypto';
import { chmod, lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeAddress } from '../../contract/plan.ts';
import { listInRoot, regularFileInRoot, resolveInRoot } from './root-path.ts';

/** Which formats were written (paths inside the tree), and what the operator should know. */
export interface NodeAddressResult {
  written: string[];
  notes: string[];
}

/** Which network stacks the restored tree has. */
async function stacks(root: string): Promise<{ networkd: boolean; nm: boolean; netplan: boolean; ifupdown: boolean }> {
  const netplan = (await listInRoot(root, 'etc/netplan')).some((n) => /\.ya?ml$/.test(n));
  const networkd =
    Boolean(await regularFileInRoot(root, 'lib/systemd/systemd-networkd')) ||
    Boolean(await regularFileInRoot(root, 'usr/lib/systemd/systemd-networkd'));
  const nm = Boolean(await regularFileInRoot(root, 'usr/sbin/NetworkManager'));
  const ifupdown = Boolean(await regularFileInRoot(root, 'etc/network/interfaces')) && Boolean(await regularFileInRoot(root, 'sbin/ifup'));
  return { networkd, nm, netplan, ifupdown };
}

/** A directory inside the tree (created when missing; refused when a component is not a directory there). */
async function dirInRoot(root: string, rel: string): Promise<string> {
  let at = '';
  for (const part of rel.split('/')) {
    const parent = at === '' ? root : await resolveInRoot(root, at);
    at = at === '' ? part : `${at}/${part}`;
    const host = await resolveInRoot(root, at);
    if (host) {
      if (!(await lstat(host)).isDirectory()) throw new Error(`/${at} in the image is not a directory`);
      continue;
    }
    if (!parent) throw new Error(`cannot create /${at} in the image`);
    await mkdir(join(parent, part), { mode: 0o755 });
  }
  return (await resolveInRoot(root, at))!;
}

/** The networkd .network file. */
export function networkdFile(mac: string, n: NodeAddress): string {
  return [
    '# imgsrv: this node\'s own address (imgsrv nodes set … --address)',
    '[Match]',
    `MACAddress=${mac}`,
    '',
    '[Network]',
    `Address=${n.address}`,
    ...(n.gateway ? [`Gateway=${n.gateway}`] : []),
    ...(n.dns ?? []).map((d) => `DNS=${d}`),
    '',
  ].join('\n');
}

/** The NetworkManager keyfile. */
export function nmKeyfile(mac: string, n: NodeAddress, uuid: string): string {
  return [
    '# imgsrv: this node\'s own address (imgsrv nodes set … --address)',
    '[connection]',
    'id=imgsrv-static',
    `uuid=${uuid}`,
    'type=ethernet',
    'autoconnect=true',
    'autoconnect-priority=100',
    '',
    '[ethernet]',
    `mac-address=${mac.toUpperCase()}`,
    '',
    '[ipv4]',
    'method=manual',
    `address1=${n.address}${n.gateway ? `,${n.gateway}` : ''}`,
    ...(n.dns?.length ? [`dns=${n.dns.join(';')};`] : []),
    '',
    '[ipv6]',
    'method=auto',
    '',
  ].join('\n');
}

/** The netplan file. */
export function netplanFile(mac: string, n: NodeAddress): string {
  return [
    '# imgsrv: this node\'s own address (imgsrv nodes set … --address)',
    'network:',
    '  version: 2',
    '  ethernets:',
    // netplan names its generated files after the id: "00-…" sorts before the image's own.
    '    00-imgsrv-static:',
    '      match:',
    `        macaddress: "${mac}"`,
    '      dhcp4: false',
    `      addresses: ["${n.address}"]`,
    ...(n.gateway ? ['      routes:', `        - to: default`, `          via: ${n.gateway}`] : []),
    ...(n.dns?.length ? ['      nameservers:', `        addresses: [${n.dns.map((d) => `"${d}"`).join(', ')}]`] : []),
    '',
  ].join('\n');
}

/** Write node `mac`'s static address into the restored tree at `root` in each format its network stack reads. */
export async function writeNodeAddress(root: string, mac: string, n: NodeAddress): Promise<NodeAddressResult> {
  const res: NodeAddressResult = { written: [], notes: [] };
  const s = await stacks(root);
  const write = async (dir: string, name: string, text: string, mode: number): Promise<void> => {
    const file = join(await dirInRoot(root, dir), name);
    await writeFile(file, text, { mode });
    await chmod(file, mode);
    res.written.push(`${dir}/${name}`);
  };
  if (s.netplan) await write('etc/netplan', '90-imgsrv-static.yaml', netplanFile(mac, n), 0o600);
  else if (s.networkd) await write('etc/systemd/network', '05-imgsrv-static.network', networkdFile(mac, n), 0o644);
  if (s.nm && !s.netplan) await write('etc/NetworkManager/system-connections', 'imgsrv-static.nmconnection', nmKeyfile(mac, n, randomUUID()), 0o600);
  if (res.written.length === 0) {
    res.notes.push(
      s.ifupdown
        ? `static address ${n.address} not written: the image uses ifupdown only, whose stanzas name interfaces; give the node a DHCP reservation instead (imgsrv settings reserve ${mac} ${n.address.split('/')[0]})`
        : `static address ${n.address} not written: the image has none of systemd-networkd, NetworkManager or netplan`,
    );
  } else res.notes.push(`static address ${n.address}${n.gateway ? ` via ${n.gateway}` : ''} set on ${mac} (${res.written.join(', ')})`);
  return res;
}
