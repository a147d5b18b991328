/**
 * Make a restored copy of the sample into this node: its hostname, a machine
 * identity of its own, and no network configuration pinned to the sample's
 * NICs. What changes, exactly:
 * - etc/hostname: the new name; etc/hosts: the sample name (and its FQDN
 *   form) on loopback lines becomes the new one, or `127.0.1.1 <name>` added.
 * - etc/machine-id, var/lib/dbus/machine-id (regular file only; Debian makes
 *   it a symlink): a fresh random id. An empty or "uninitialized" one means
 *   "systemd makes one at first boot" and is left as it is.
 * - etc/udev/rules.d/*persistent-net*, and etc/systemd/network/*.link
 *   matching a sample MAC: removed (they pin a name to the sample's MAC).
 * - etc/systemd/network/*.network and etc/netplan/*.yaml pinned to a sample
 *   MAC: unpinned, and a static address there becomes DHCP (network-config.ts).
 * - etc/network/interfaces: never changed; reported when it names interfaces
 *   or gives one a static address.
 * Without `sampleMacs` (or an empty list: a plain-tree image has no facts) every MAC found in
 * those files counts as the sample's: a MAC in an image can only be the sample's.
 */
import { randomBytes } from 'node:crypto';
import { lstat, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import { hostnameProblem } from '../../core/hostname.ts';
import type { Logger } from '../../core/log.ts';
import { unpinNetworkConfig } from './network-config.ts';
import { regularFileInRoot, resolveInRoot } from './root-path.ts';

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

/** Give the restored tree at `root` this node's hostname and identity (see the file comment for exactly what changes). */
export async function personalise(root: string, opts: PersonaliseOptions): Promise<PersonaliseResult> {
  const problem = hostnameProblem(opts.hostname);
  if (problem) throw new ImgsrvError('BAD_USAGE', `bad hostname "${opts.hostname}": ${problem}`, { hint: 'use letters, digits and "-", e.g. node-12' });
  const res: PersonaliseResult = { changed: [], removed: [], notes: [] };
  await writeHostname(root, opts, res);
  await writeMachineIds(root, res);
  await unpinNetworkConfig(root, opts.sampleMacs?.map((m) => m.toLowerCase()), res);
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
