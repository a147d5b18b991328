/**
 * A clone must not inherit network configuration pinned to the sample's
 * NICs: a rename by the sample's MAC names nothing on the node, and a static
 * address on every clone is an outage (each one claims the sample's IP).
 * What changes, exactly:
 * - etc/udev/rules.d/*persistent-net*: removed (they pin eth0 to the sample's MAC).
 * - etc/systemd/network/*.link matching a sample MAC: removed (they rename by MAC).
 * - etc/systemd/network/*.network matching a sample MAC: `MACAddress=`/
 *   `PermanentMACAddress=` dropped when [Match] has other keys, else replaced
 *   by `Name=en* eth*` so the config applies to whatever wired NIC the node
 *   has; its static addressing (`Address=`, `Gateway=` in [Network], every
 *   [Address] section) goes and `DHCP=yes` takes its place.
 * - etc/netplan/*.yaml: `macaddress: <sample MAC>` becomes `name: "e*"`;
 *   `set-name:` in that stanza is dropped (renaming every match to one name
 *   fails), and so are `addresses:`, `gateway4:` and `gateway6:`, with
 *   `dhcp4: true` in their place.
 * - etc/network/interfaces is never changed (its stanzas name NICs, not MACs);
 *   a static stanza there is reported.
 * Every static address dropped is reported in the result's notes, so the
 * operator sees it on the console and in the node's events.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { listInRoot, regularFileInRoot, resolveInRoot } from './root-path.ts';

/** What was changed and removed (paths inside the tree), and what the operator should know. */
export interface NetworkConfigResult {
  changed: string[];
  removed: string[];
  notes: string[];
}

/** The MACs in a text, lowercase. */
function macsIn(text: string): string[] {
  return [...text.matchAll(/\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/gi)].map((m) => m[1]!.toLowerCase());
}

/** Unpin the restored tree at `root` from the sample's NICs; without `sampleMacs` (or empty: no facts) every MAC found counts as the sample's. */
export async function unpinNetworkConfig(root: string, sampleMacs: string[] | undefined, res: NetworkConfigResult): Promise<void> {
  const isSample = (mac: string): boolean => (sampleMacs && sampleMacs.length > 0 ? sampleMacs.includes(mac.toLowerCase()) : true);
  for (const name of await listInRoot(root, 'etc/udev/rules.d')) {
    if (!name.includes('persistent-net')) continue;
    await rm(`${await resolveInRoot(root, 'etc/udev/rules.d')}/${name}`, { force: true });
    res.removed.push(`etc/udev/rules.d/${name}`);
  }
  for (const name of await listInRoot(root, 'etc/systemd/network')) {
    const rel = `etc/systemd/network/${name}`;
    const host = await regularFileInRoot(root, rel);
    if (!host) continue;
    const text = await readFile(host, 'utf8');
    if (name.endsWith('.link')) {
      const match = /^\s*(?:Permanent)?MACAddress\s*=(.*)$/im.exec(text);
      if (match && macsIn(match[1]!).some(isSample)) {
        await rm(host, { force: true });
        res.removed.push(rel);
      }
    } else if (name.endsWith('.network')) {
      const unpinned = unpinNetwork(text, isSample);
      if (unpinned === text) continue;
      const { text: after, dropped } = networkToDhcp(unpinned);
      await writeFile(host, after);
      res.changed.push(rel);
      if (dropped.length > 0) res.notes.push(`${rel} gave the sample the static address ${dropped.join(', ')}; this node uses DHCP instead`);
    }
  }
  for (const name of await listInRoot(root, 'etc/netplan')) {
    const rel = `etc/netplan/${name}`;
    const host = name.endsWith('.yaml') ? await regularFileInRoot(root, rel) : undefined;
    if (!host) continue;
    const text = await readFile(host, 'utf8');
    const { text: after, dropped } = unpinNetplan(text, isSample);
    if (after === text) continue;
    await writeFile(host, after);
    res.changed.push(rel);
    if (dropped.length > 0) res.notes.push(`${rel} gave the sample the static address ${dropped.join(', ')}; this node uses DHCP instead`);
  }
  const ifaces = await regularFileInRoot(root, 'etc/network/interfaces');
  if (ifaces) {
    const text = await readFile(ifaces, 'utf8');
    const named = [...text.matchAll(/^\s*iface\s+(\S+)/gm)].map((m) => m[1]!).filter((n) => n !== 'lo');
    if (named.length > 0) res.notes.push(`etc/network/interfaces configures ${named.join(', ')} by name (left unchanged): the node's NICs must have those names`);
    const statics = [...text.matchAll(/^\s*iface\s+(\S+)\s+inet6?\s+static/gm)].map((m) => m[1]!);
    if (statics.length > 0) res.notes.push(`etc/network/interfaces gives ${statics.join(', ')} a static address: every node restored from this image claims it`);
  }
}

/** Unpin a systemd .network file's [Match] from sample MACs (see the file comment). */
export function unpinNetwork(text: string, isSample: (mac: string) => boolean): string {
  const lines = text.split('\n');
  let section = '';
  const matchKeys = new Set<string>();
  for (const l of lines) {
    const s = /^\s*\[(\w+)\]/.exec(l);
    if (s) section = s[1]!;
    const k = /^\s*(\w+)\s*=/.exec(l);
    if (section === 'Match' && k) matchKeys.add(k[1]!);
  }
  const others = [...matchKeys].filter((k) => k !== 'MACAddress' && k !== 'PermanentMACAddress');
  section = '';
  const out: string[] = [];
  for (const l of lines) {
    const s = /^\s*\[(\w+)\]/.exec(l);
    if (s) section = s[1]!;
    const m = /^\s*(?:Permanent)?MACAddress\s*=(.*)$/.exec(l);
    if (section === 'Match' && m && macsIn(m[1]!).some(isSample)) {
      if (others.length === 0 && !out.includes('Name=en* eth*')) out.push('Name=en* eth*');
      continue;
    }
    out.push(l);
  }
  return out.join('\n');
}

/**
 * Turn a .network file's static addressing into DHCP (systemd.network(5)):
 * `Address=` and `Gateway=` of [Network] and whole [Address] sections go,
 * `DHCP=yes` is set in [Network]. Returns the addresses dropped.
 */
export function networkToDhcp(text: string): { text: string; dropped: string[] } {
  const dropped: string[] = [];
  const out: string[] = [];
  let section = '';
  let sawNetwork = false;
  let dhcpSet = false;
  for (const l of text.split('\n')) {
    const s = /^\s*\[(\w+)\]/.exec(l);
    if (s) {
      if (section === 'Network' && !dhcpSet) insertDhcp(out);
      section = s[1]!;
      sawNetwork ||= section === 'Network';
      dhcpSet = false;
      if (section === 'Address') continue;
    }
    const kv = /^\s*(\w+)\s*=\s*(.*?)\s*$/.exec(l);
    if (section === 'Address') {
      if (kv?.[1] === 'Address') dropped.push(kv[2]!);
      continue;
    }
    if (section === 'Network' && kv) {
      if (kv[1] === 'Address') {
        dropped.push(kv[2]!);
        continue;
      }
      if (kv[1] === 'Gateway') continue;
      if (kv[1] === 'DHCP') {
        dhcpSet = true;
        if (dropped.length > 0 || kv[2] !== 'yes') {
          out.push('DHCP=yes');
          continue;
        }
      }
    }
    out.push(l);
  }
  if (dropped.length === 0) return { text, dropped };
  if (section === 'Network' && !dhcpSet) insertDhcp(out);
  if (!sawNetwork) out.push('', '[Network]', 'DHCP=yes');
  return { text: out.join('\n').replace(/\n{3,}/g, '\n\n'), dropped };
}

/** Add `DHCP=yes` after the last non-blank line of the section being written. */
function insertDhcp(out: string[]): void {
  let i = out.length;
  while (i > 0 && out[i - 1]!.trim() === '') i--;
  out.splice(i, 0, 'DHCP=yes');
}

/**
 * Unpin netplan stanzas from sample MACs (see the file comment); line-based
 * so comments and layout stay. Returns the static addresses dropped.
 */
export function unpinNetplan(text: string, isSample: (mac: string) => boolean): { text: string; dropped: string[] } {
  const lines = text.split('\n');
  const indent = (l: string): number => /^\s*/.exec(l)![0].length;
  const blank = (l: string): boolean => l.trim() === '' || l.trim().startsWith('#');
  const drop = new Set<number>();
  const dropped: string[] = [];
  const dhcpAt: Array<{ after: number; indent: number }> = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const m = /macaddress:\s*["']?([0-9a-f:]{17})["']?/i.exec(l);
    if (!m || !isSample(m[1]!)) continue;
    lines[i] = l.replace(m[0], 'name: "e*"');
    // The stanza: "match:" above, then its siblings at the same indent.
    let j = i;
    while (j >= 0 && !/^\s*match:/.test(lines[j]!)) j--;
    if (j < 0) continue;
    const level = indent(lines[j]!);
    let first = j;
    let last = j;
    for (const dir of [-1, 1]) {
      for (let k = j + dir; k >= 0 && k < lines.length; k += dir) {
        const t = lines[k]!;
        if (blank(t)) continue;
        if (indent(t) < level) break;
        if (dir < 0) first = k;
        else last = k;
      }
    }
    let hasStatic = false;
    const dhcp4: number[] = [];
    for (let k = first; k <= last; k++) {
      const t = lines[k]!;
      if (blank(t) || indent(t) !== level) continue;
      const key = /^\s*([\w-]+):\s*(.*)$/.exec(t);
      if (!key) continue;
      if (key[1] === 'set-name' || key[1] === 'gateway4' || key[1] === 'gateway6') drop.add(k);
      if (key[1] === 'dhcp4') dhcp4.push(k);
      if (key[1] === 'addresses') {
        hasStatic = true;
        drop.add(k);
        dropped.push(...[...key[2]!.matchAll(/[0-9a-f.:]+\/\d+/gi)].map((a) => a[0]));
        for (let c = k + 1; c <= last && (blank(lines[c]!) || indent(lines[c]!) > level); c++) {
          if (blank(lines[c]!)) continue;
          drop.add(c);
          dropped.push(...[...lines[c]!.matchAll(/[0-9a-f.:]+\/\d+/gi)].map((a) => a[0]));
        }
      }
    }
    // A static stanza's own dhcp4 line (likely `false`) gives way to `dhcp4: true` at its end.
    if (hasStatic) {
      for (const k of dhcp4) drop.add(k);
      dhcpAt.push({ after: last, indent: level });
    }
  }
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (!drop.has(i)) out.push(l);
    for (const d of dhcpAt) if (d.after === i) out.push(`${' '.repeat(d.indent)}dhcp4: true`);
  });
  return { text: out.join('\n'), dropped };
}
