/**
 * Point the restored system at its new file systems: every place that names a
 * sample file system (fstab, crypttab, boot loader and initramfs config,
 * kernel command lines) is rewritten to the UUIDs the restore just made.
 *
 * The sample's identifiers come from two records: the mapping (facts captured
 * from the sample) and the restored /etc/fstab itself, matched by mount
 * point. Images captured from a plain tree have no facts, so their fstab is
 * the only record of which UUID, label or device was which file system.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { dmName } from '../../images/meta.ts';
import type { PartitionMapping } from './layout.ts';
import { listInRoot, regularFileInRoot, resolveInRoot } from './root-path.ts';

/** What one rewritten file got. */
export interface RewriteResult {
  /** Path inside the tree, e.g. "etc/fstab". */
  file: string;
  replacements: number;
}

/** Options for rewriteIdentifiers. */
export interface RewriteOptions {
  /** Sample's device path → mount point (from the captured facts), for configs naming /dev/sdXN. */
  sampleDevices?: Record<string, string>;
  log: Logger;
}

/** Files (inside the tree) that may name file systems; globs are one `*` in the last component. */
const TARGETS = [
  'etc/fstab',
  'etc/crypttab',
  'boot/grub/grub.cfg',
  'boot/grub2/grub.cfg',
  'boot/efi/EFI/*/grub.cfg',
  'etc/default/grub',
  'etc/default/grub.d/*',
  'etc/initramfs-tools/conf.d/resume',
  'boot/loader/entries/*.conf',
  'boot/extlinux/extlinux.conf',
  'boot/syslinux/syslinux.cfg',
  'etc/kernel/cmdline',
];

/** Partition contents that never get an fstab line of their own. */
const NOT_MOUNTABLE = new Set(['', 'bios_grub', 'crypto_LUKS', 'LVM2_member', 'linux_raid_member', 'none']);

/** Old → new identifiers: bare UUIDs (matched anywhere) and whole source specs (matched where a device is named). */
interface IdMap {
  uuids: Map<string, string>;
  /** "PARTUUID=x", "LABEL=x", "/dev/sda2", "/dev/disk/by-…/x" → "UUID=new". */
  sources: Map<string, string>;
}

/** One fstab line split into fields (undefined for comments and blank lines). */
interface FstabLine {
  raw: string;
  fields?: string[];
}

/** Rewrite the sample's file system identifiers in `root` to the new ones; returns the files changed and how many replacements each got. */
export async function rewriteIdentifiers(root: string, mapping: readonly PartitionMapping[], opts: RewriteOptions): Promise<RewriteResult[]> {
  const ids = mappingIds(mapping, opts.sampleDevices ?? {});
  const results: RewriteResult[] = [];

  // fstab first: it adds to the map what the other files need
  const fstabResult = await rewriteFstab(root, mapping, ids, opts.log);
  if (fstabResult) results.push(fstabResult);

  for (const file of await expandTargets(root)) {
    if (file === 'etc/fstab') continue;
    const host = await regularFileInRoot(root, file);
    if (!host) continue;
    const before = await readFile(host, 'utf8');
    const { text, count } = replaceIds(before, ids, file === 'etc/crypttab');
    if (count === 0) continue;
    // in place (not write + rename) so mode, owner, ACLs and SELinux labels stay
    await writeFile(host, text);
    results.push({ file, replacements: count });
  }
  opts.log.info({ files: results }, 'identifiers rewritten');
  return results;
}

/** The identifiers the captured facts already tell. */
function mappingIds(mapping: readonly PartitionMapping[], sampleDevices: Record<string, string>): IdMap {
  const ids: IdMap = { uuids: new Map(), sources: new Map() };
  for (const m of mapping) {
    if (m.oldUuid && m.oldUuid.toLowerCase() !== m.newUuid.toLowerCase()) ids.uuids.set(m.oldUuid.toLowerCase(), m.newUuid);
    if (m.oldDevice) ids.sources.set(m.oldDevice.startsWith('/') ? m.oldDevice : `/dev/${m.oldDevice}`, `UUID=${m.newUuid}`);
    if (m.oldLabel && m.oldLabel !== m.newLabel) {
      ids.sources.set(`LABEL=${m.oldLabel}`, `UUID=${m.newUuid}`);
      ids.sources.set(`/dev/disk/by-label/${m.oldLabel}`, `UUID=${m.newUuid}`);
    }
  }
  for (const [device, mountpoint] of Object.entries(sampleDevices)) {
    const m = mapping.find((p) => p.mountpoint === mountpoint || (mountpoint === 'swap' && p.fsType === 'swap'));
    if (m) ids.sources.set(device, `UUID=${m.newUuid}`);
  }
  return ids;
}

/** The partition an fstab entry stands for: same mount point, or (swap) same old UUID else the next unclaimed swap. */
function entryFor(fields: string[], mapping: readonly PartitionMapping[], claimed: Set<PartitionMapping>): PartitionMapping | undefined {
  const [source = '', mountpoint = '', type = ''] = fields;
  if (type === 'swap') {
    const uuid = /^UUID=(.+)$/i.exec(source)?.[1]?.toLowerCase();
    const swaps = mapping.filter((m) => m.fsType === 'swap' && !claimed.has(m));
    // a swap file ("/swapfile none swap") is no partition
    if (source.startsWith('/') && !source.startsWith('/dev/')) return undefined;
    return swaps.find((m) => uuid !== undefined && m.oldUuid?.toLowerCase() === uuid) ?? swaps[0];
  }
  return mapping.find((m) => m.mountpoint === mountpoint && m.fsType !== 'swap' && !claimed.has(m));
}

/** Whether an fstab source names the logical volume by its device names (/dev/mapper/vg-lv, /dev/vg/lv, /dev/disk/by-id/dm-name-vg-lv). */
function namesLv(source: string, lv: { vg: string; name: string }): boolean {
  const dm = dmName(lv.vg, lv.name);
  return source === `/dev/mapper/${dm}` || source === `/dev/${lv.vg}/${lv.name}` || source === `/dev/disk/by-id/dm-name-${dm}`;
}

/** The old UUID a source spec names, when it names one. */
function uuidOf(source: string): string | undefined {
  return (/^UUID=(.+)$/i.exec(source) ?? /^\/dev\/disk\/by-uuid\/(.+)$/.exec(source))?.[1]?.replace(/^"|"$/g, '');
}

/** Rewrite etc/fstab by mount point and add lines for mapped partitions it lacks. */
async function rewriteFstab(root: string, mapping: readonly PartitionMapping[], ids: IdMap, log: Logger): Promise<RewriteResult | undefined> {
  let host = await regularFileInRoot(root, 'etc/fstab');
  let before = '';
  if (host) before = await readFile(host, 'utf8');
  else {
    // no fstab at all (or a dangling link): only create one where nothing would be clobbered
    if ((await resolveInRoot(root, 'etc')) === undefined || (await resolveInRoot(root, 'etc/fstab')) !== undefined) return undefined;
    const etc = (await resolveInRoot(root, 'etc'))!;
    host = join(etc, 'fstab');
  }
  const lines: FstabLine[] = before.split('\n').map((raw) => {
    const t = raw.trim();
    return t === '' || t.startsWith('#') ? { raw } : { raw, fields: t.split(/\s+/) };
  });
  if (lines.at(-1)?.raw === '') lines.pop();
  const claimed = new Set<PartitionMapping>();
  let count = 0;
  for (const line of lines) {
    if (!line.fields) continue;
    const m = entryFor(line.fields, mapping, claimed);
    if (!m) continue;
    claimed.add(m);
    const source = line.fields[0]!;
    // A logical volume keeps its VG and LV names: a line naming it by them stays as it is.
    if (m.lv && namesLv(source, m.lv)) continue;
    const old = uuidOf(source);
    if (old && old.toLowerCase() !== m.newUuid.toLowerCase()) ids.uuids.set(old.toLowerCase(), m.newUuid);
    else if (!old) ids.sources.set(source, `UUID=${m.newUuid}`);
    const next = `UUID=${m.newUuid}`;
    if (source === next) continue;
    // keep the line's own spacing: replace the first field only
    line.raw = line.raw.replace(source, next);
    count++;
    log.debug({ mountpoint: line.fields[1], from: source, to: next }, 'fstab entry');
  }
  for (const m of mapping) {
    if (claimed.has(m) || (!m.mountpoint && m.fsType !== 'swap') || NOT_MOUNTABLE.has(m.fsType)) continue;
    lines.push({ raw: fstabLineFor(m) });
    count++;
  }
  if (count === 0) return undefined;
  await writeFile(host, lines.map((l) => l.raw).join('\n') + '\n');
  return { file: 'etc/fstab', replacements: count };
}

/** A new fstab line for a partition the sample's fstab did not list. */
function fstabLineFor(m: PartitionMapping): string {
  const src = `UUID=${m.newUuid}`;
  if (m.fsType === 'swap') return `${src} none swap sw 0 0`;
  const mp = m.mountpoint!;
  // the ESP: root-only like Debian's installer makes it; nofail so a broken ESP does not stop the boot
  if (m.fsType === 'vfat') return `${src} ${mp} vfat umask=0077,nofail 0 2`;
  // a btrfs subvolume by its path, as the sample's installer names it; btrfs is never fsck'd at boot (pass 0)
  if (m.subvolume) return `${src} ${mp} btrfs subvol=/${m.subvolume.path}${mp === '/' ? '' : ',nofail'} 0 0`;
  if (mp === '/') return `${src} / ${m.fsType} defaults 0 1`;
  return `${src} ${mp} ${m.fsType} defaults,nofail 0 2`;
}

/** Escape a string for a RegExp. */
function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Replace identifiers in one file's text. Bare UUIDs anywhere (between
 * non-identifier characters, so a UUID inside a longer one never matches);
 * source specs only where a device is named: `root=`/`resume=`/`RESUME=`
 * values and (crypttab) the second field.
 */
function replaceIds(text: string, ids: IdMap, crypttab = false): { text: string; count: number } {
  let count = 0;
  let out = text;
  for (const [old, neu] of ids.uuids) {
    out = out.replace(new RegExp(`(?<![0-9A-Za-z-])${esc(old)}(?![0-9A-Za-z-])`, 'gi'), () => {
      count++;
      return neu;
    });
  }
  for (const [old, neu] of ids.sources) {
    // a device name ends at whitespace, a quote or the end: /dev/sda1 is not /dev/sda10
    out = out.replace(new RegExp(`(\\b(?:root|resume|RESUME)=)${esc(old)}(?=[\\s"']|$)`, 'gm'), (_m, key: string) => {
      count++;
      return key + neu;
    });
    if (crypttab) {
      out = out.replace(new RegExp(`^(\\s*\\S+\\s+)${esc(old)}(?=\\s|$)`, 'gm'), (_m, head: string) => {
        count++;
        return head + neu;
      });
    }
  }
  return { text: out, count };
}

/** The TARGETS that exist in the tree, globs expanded. */
async function expandTargets(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const t of TARGETS) {
    const star = t.indexOf('*');
    if (star < 0) {
      out.push(t);
      continue;
    }
    const slash = t.lastIndexOf('/', star);
    const dir = t.slice(0, slash);
    const rest = t.slice(slash + 1);
    const [pre = '', post = ''] = rest.split('*');
    if (rest.includes('/')) {
      // "boot/efi/EFI/*/grub.cfg": the star is a directory
      const [dirPattern = '', file = ''] = rest.split('/');
      const [dpre = '', dpost = ''] = dirPattern.split('*');
      for (const name of await listInRoot(root, dir)) if (name.startsWith(dpre) && name.endsWith(dpost)) out.push(`${dir}/${name}/${file}`);
      continue;
    }
    for (const name of await listInRoot(root, dir)) if (name.startsWith(pre) && name.endsWith(post)) out.push(`${dir}/${name}`);
  }
  return out;
}
