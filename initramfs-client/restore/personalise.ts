/**
 * Make a restored copy of the sample into this node: its hostname, a machine
 * identity of its own, and no network configuration pinned to the sample's
 * NICs. What changes, exactly:
 * - etc/hostname: the new name; etc/hosts: the sample name (and its FQDN
 *   form) on loopback lines becomes the new one, or `127.0.1.1 <name>` added.
 * - etc/machine-id, var/lib/dbus/machine-id (regular file only; Debian makes
 *   it a symlink): a fresh random id. An empty or "uninitialized" one means
 *   "systemd makes one at first boot" and is left as it is.
 * - etc/udev/rules.d/*persistent-net*: removed (they pin eth0 to the sample's MAC).
 * - etc/systemd/network/*.link matching a sample MAC: removed (they rename by MAC).
 * - etc/systemd/network/*.network: `MACAddress=`/`PermanentMACAddress=` of a
 *   sample MAC dropped when [Match] has other keys, else replaced by
 *   `Name=en* eth*` so the config applies to whatever wired NIC the node has.
 * - etc/netplan/*.yaml: `macaddress: <sample MAC>` becomes `name: "e*"`, and
 *   `set-name:` in that stanza is dropped (renaming every match to one name fails).
 * - etc/network/interfaces: never changed; reported when it names interfaces.
 * Without `sampleMacs` (or an empty list: a plain-tree image has no facts) every MAC found in
 * those files counts as the sample's: a MAC in an image can only be the sample's.
 */
import { randomBytes } from 'node:crypto';
import { lstat, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { listInRoot, regularFileInRoot, resolveInRoot } from './root-path.ts';

/** Options for personalise. */
export interface PersonaliseOptions {
  hostname: string;
  /** The sample's hostname; read from the tree's etc/hostname when absent. */
  sampleHostname?: string;
  /** The sample's NIC MACs (any case); absent or empty (no facts): any MAC in the network config. */
  sampleMacs?: string[];
  log: Logger;
}

/** What personalise changed (paths inside the tree) and what the operator should know. */
export interface PersonaliseResult {
  changed: string[];
  removed: string[];
  notes: string[];
}

/** Why a hostname is not acceptable (RFC 1123 labels, at most 63 characters each, 253 in all), or undefined when it is. */
export function validateHostname(name: string): string | undefined {
  if (name.length === 0) return 'the hostname is empty';
  if (name.length > 253) return 'the hostname is longer than 253 characters';
  for (const label of name.split('.')) {
    if (label.length === 0) return 'the hostname has an empty label (two dots, or a dot at either end)';
    if (label.length > 63) return `"${label}" is longer than 63 characters`;
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(label)) return `"${label}" may contain only letters, digits and "-", and not start or end with "-"`;
  }
  return undefined;
}

/** Give the restored tree at `root` this node's hostname and identity (see the file comment for exactly what changes). */
export async function personalise(root: string, opts: PersonaliseOptions): Promise<PersonaliseResult> {
  const problem = validateHostname(opts.hostname);
  if (problem) throw new ImgsrvError('BAD_USAGE', `bad hostname "${opts.hostname}": ${problem}`, { hint: 'use letters, digits and "-", e.g. node-12' });
  const res: PersonaliseResult = { changed: [], removed: [], notes: [] };
  await writeHostname(root, opts, res);
  await writeMachineIds(root, res);
  await removePinnedNics(root, opts.sampleMacs?.map((m) => m.toLowerCase()), res);
  const ifaces = await regularFileInRoot(root, 'etc/network/interfaces');
  if (ifaces) {
    const named = [...(await readFile(ifaces, 'utf8')).matchAll(/^\s*iface\s+(\S+)/gm)].map((m) => m[1]!).filter((n) => n !== 'lo');
    if (named.length > 0) res.notes.push(`etc/network/interfaces configures ${named.join(', ')} by name (left unchanged): the node's NICs must have those names`);
  }
  opts.log.info(res, 'personalised');
  return res;
}

/** Write to an existing file in place (mode, owner, labels stay), or create it. */
async function writeIn(root: string, rel: string, text: string): Promise<boolean> {
  const host = (await regularFileInRoot(root, rel)) ?? (await creatable(root, rel));
  if (!host) return false;
  await writeFile(host, text);
  return true;
}

/** The host path for a new file whose directory exists in the tree and whose name is free (no dangling link). */
async function creatable(root: string, rel: string): Promise<string | undefined> {
  const slash = rel.lastIndexOf('/');
  const dir = await resolveInRoot(root, rel.slice(0, slash));
  if (!dir || (await lstat(`${dir}/${rel.slice(slash + 1)}`).catch(() => undefined))) return undefined;
  return `${dir}/${rel.slice(slash + 1)}`;
}

async function writeHostname(root: string, opts: PersonaliseOptions, res: PersonaliseResult): Promise<void> {
  const hnFile = await regularFileInRoot(root, 'etc/hostname');
  const sample = opts.sampleHostname ?? (hnFile ? (await readFile(hnFile, 'utf8')).trim().split('.')[0] : undefined);
  if (await writeIn(root, 'etc/hostname', `${opts.hostname}\n`)) res.changed.push('etc/hostname');
  const hostsFile = await regularFileInRoot(root, 'etc/hosts');
  const before = hostsFile ? await readFile(hostsFile, 'utf8') : '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
  // a sample that called itself "localhost" must not lose its localhost line
  const sampleShort = sample?.split('.')[0] === 'localhost' ? undefined : sample?.split('.')[0];
  let named = false;
  const lines = before.split('\n').map((line) => {
    const m = /^(\s*(127\.\d+\.\d+\.\d+|::1)\s+)(.*?)(\s*#.*)?$/.exec(line);
    if (!m) return line;
    const names = m[3]!.split(/\s+/).filter(Boolean);
    const next = names.map((n) => {
      if (sampleShort && n === sampleShort) return opts.hostname;
      // the sample's FQDN keeps its domain under the new name: sample.lan → node-3.lan
      if (sampleShort && n.startsWith(`${sampleShort}.`) && !opts.hostname.includes('.')) return opts.hostname + n.slice(sampleShort.length);
      return n;
    });
    if (next.some((n) => n === opts.hostname || n.startsWith(`${opts.hostname}.`))) named = true;
    return next.join(' ') === names.join(' ') ? line : `${m[1]}${next.join(' ')}${m[4] ?? ''}`;
  });
  if (!named) {
    // Debian's convention for a host without a static address (hostname(7), /etc/hosts in the installer)
    const at = lines.findIndex((l) => /^\s*127\.0\.0\.1\s/.test(l));
    lines.splice(at + 1, 0, `127.0.1.1\t${opts.hostname}`);
  }
  const after = lines.join('\n');
  if (after !== before && (await writeIn(root, 'etc/hosts', after))) res.changed.push('etc/hosts');
}

/** A machine-id: 32 lowercase hex digits (machine-id(5)). */
function newMachineId(): string {
  return randomBytes(16).toString('hex');
}

async function writeMachineIds(root: string, res: PersonaliseResult): Promise<void> {
  let id: string | undefined;
  for (const rel of ['etc/machine-id', 'var/lib/dbus/machine-id']) {
    // a symlink (dbus → /etc/machine-id) follows its target; only a regular file of its own is rewritten
    const dir = await resolveInRoot(root, dirname(rel));
    const host = dir && join(dir, basename(rel));
    const st = host ? await lstat(host).catch(() => undefined) : undefined;
    if (!host || !st?.isFile()) continue;
    const cur = (await readFile(host, 'utf8')).trim();
    // empty or "uninitialized": systemd generates one at first boot (machine-id(5))
    if (cur === '' || cur === 'uninitialized') continue;
    id ??= newMachineId();
    await writeFile(host, `${id}\n`);
    res.changed.push(rel);
  }
}

/** The MACs in a text, lowercase. */
function macsIn(text: string): string[] {
  return [...text.matchAll(/\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/gi)].map((m) => m[1]!.toLowerCase());
}

async function removePinnedNics(root: string, sampleMacs: string[] | undefined, res: PersonaliseResult): Promise<void> {
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
      const after = unpinNetwork(text, isSample);
      if (after !== text) {
        await writeFile(host, after);
        res.changed.push(rel);
      }
    }
  }
  for (const name of await listInRoot(root, 'etc/netplan')) {
    const rel = `etc/netplan/${name}`;
    const host = name.endsWith('.yaml') ? await regularFileInRoot(root, rel) : undefined;
    if (!host) continue;
    const text = await readFile(host, 'utf8');
    const after = unpinNetplan(text, isSample);
    if (after !== text) {
      await writeFile(host, after);
      res.changed.push(rel);
    }
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

/** Unpin netplan stanzas from sample MACs (see the file comment); line-based so comments and layout stay. */
export function unpinNetplan(text: string, isSample: (mac: string) => boolean): string {
  const lines = text.split('\n');
  const indent = (l: string): number => /^\s*/.exec(l)![0].length;
  const drop = new Set<number>();
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const m = /macaddress:\s*["']?([0-9a-f:]{17})["']?/i.exec(l);
    if (!m || !isSample(m[1]!)) continue;
    lines[i] = l.replace(m[0], 'name: "e*"');
    // the stanza: find "match:" above, then its siblings at the same indent
    let j = i;
    while (j >= 0 && !/^\s*match:/.test(lines[j]!)) j--;
    if (j < 0) continue;
    const level = indent(lines[j]!);
    for (const dir of [-1, 1]) {
      for (let k = j + dir; k >= 0 && k < lines.length; k += dir) {
        const t = lines[k]!;
        if (t.trim() === '' || t.trim().startsWith('#')) continue;
        if (indent(t) < level) break;
        if (indent(t) === level && /^\s*set-name:/.test(t)) drop.add(k);
      }
    }
  }
  return lines.filter((_l, i) => !drop.has(i)).join('\n');
}
