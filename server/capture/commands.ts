/**
 * The argument vectors for ssh and rsync. Pure: the only I/O is the caller's
 * `spawn(argv[0], argv.slice(1))`, never a shell. Inputs come from
 * `source.ts`, so hosts and users are already validated.
 */
import { isIPv6 } from 'node:net';
import type { CaptureSource } from './source.ts';
import { validateSafePath } from './source.ts';

/** ssh options every connection uses. */
export interface SshSettings {
  /** The known_hosts file: the data dir's (trust on first use), or a capture's own holding only the pinned keys. */
  knownHosts: string;
  /**
   * accept-new: trust a host seen for the first time, refuse a changed key.
   * yes: only a key already in `knownHosts` (a pin, or a key learned earlier in this capture).
   */
  strictHostKeyChecking: 'accept-new' | 'yes';
  connectTimeoutSeconds: number;
}

/**
 * The ssh command (without host). BatchMode: never prompt (a prompt would
 * hang the server). StrictHostKeyChecking from the settings: never "no".
 * ServerAlive*: notice a dead connection in ~15 s instead of TCP's minutes.
 */
export function sshCommand(src: Extract<CaptureSource, { kind: 'ssh' }>, s: SshSettings): string[] {
  const argv = [
    'ssh',
    '-o', 'BatchMode=yes',
    '-o', `StrictHostKeyChecking=${s.strictHostKeyChecking === 'yes' ? 'yes' : 'accept-new'}`,
    '-o', `UserKnownHostsFile=${validateSafePath(s.knownHosts, 'known_hosts file')}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', `ConnectTimeout=${Math.max(1, Math.round(s.connectTimeoutSeconds))}`,
    '-o', 'ServerAliveInterval=5',
    '-o', 'ServerAliveCountMax=3',
    '-o', 'LogLevel=ERROR',
    // Only the key we were given: an agent or ~/.ssh of the server's user is not ours to use.
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'ClearAllForwardings=yes',
    '-F', '/dev/null',
    '-p', String(src.port),
    '-l', src.user,
  ];
  if (src.identity) argv.push('-i', src.identity);
  return argv;
}

/** ssh argv that runs a fixed remote command; `--` ends options so the host is never parsed as one. */
export function sshExec(src: Extract<CaptureSource, { kind: 'ssh' }>, s: SshSettings, remoteCommand: string): string[] {
  return [...sshCommand(src, s), '--', src.host, remoteCommand];
}

/** One rsync run: one mounted file system of the host into the same path of the staging tree. */
export interface RsyncPlan {
  /** Absolute path on the host, '/' or a mount point like '/boot'. */
  mount: string;
  /** Other captured mount points below `mount`, absolute (each gets its own run). */
  nested: string[];
}

/** Options for the rsync argv. */
export interface RsyncArgOptions {
  source: CaptureSource;
  ssh: SshSettings;
  plan: RsyncPlan;
  /** Staging tree root (local). */
  staging: string;
  /** Exclude patterns from config: absolute ('/proc/*') or unanchored ('lost+found'). */
  excludes: readonly string[];
}

/**
 * rsync -aHAXS --numeric-ids --delete --one-file-system, with progress2 and
 * final stats. Absolute excludes are rebased onto the run's mount point;
 * nested mount points are excluded so this run neither copies them nor
 * deletes what their own run put there (rsync never deletes excluded files
 * on the receiver without --delete-excluded).
 */
/** Prefix of rsync's per-change line (see --out-format in rsyncArgs). */
export const CHANGE_MARK = '@@chg ';

export function rsyncArgs(o: RsyncArgOptions): string[] {
  const mount = o.plan.mount === '/' ? '/' : o.plan.mount.replace(/\/+$/, '');
  const args = [
    'rsync',
    '-aHAXS',
    '--numeric-ids',
    // Compare mtimes to the nanosecond (the image keeps them). By default rsync takes two times in the
    // same second as equal: a directory whose content it just changed (so its time is "now") and whose
    // source time is from a moment ago kept the wrong time — seen in the lab on recaptured /etc.
    '--modify-window=-1',
    '--delete',
    '--delete-during',
    '--one-file-system',
    // Full file list up front: progress2 then knows the total (ETA), at a memory cost we accept.
    '--no-inc-recursive',
    '--info=progress2,stats2',
    // One marked line per changed item (content, attributes, deletion): none at all means the
    // staging tree is exactly as the last capture packed it.
    `--out-format=${CHANGE_MARK}%i`,
    '--no-human-readable',
    // Mount points and other names from the host pass to the remote rsync without shell parsing.
    '--protect-args',
    '--timeout=60',
  ];
  if (o.source.kind === 'ssh') args.push('-e', sshCommand(o.source, o.ssh).join(' '));
  for (const pattern of rebaseExcludes(o.excludes, mount)) args.push(`--exclude=${pattern}`);
  for (const n of o.plan.nested) {
    const rel = relativeTo(n, mount);
    if (rel) args.push(`--exclude=/${rel}/**`);
  }
  const sub = mount === '/' ? '/' : `${mount}/`;
  if (o.source.kind === 'ssh') {
    const host = isIPv6(o.source.host) ? `[${o.source.host}]` : o.source.host;
    args.push('--', `${host}:${sub}`);
  } else {
    const host = isIPv6(o.source.host) ? `[${o.source.host}]` : o.source.host;
    const base = o.source.path.replace(/\/+$/, '');
    args.push('--', `rsync://${host}:${o.source.port}/${o.source.module}${base}${sub}`);
  }
  args.push(`${o.staging.replace(/\/+$/, '')}${sub}`);
  return args;
}

/** Rebase absolute exclude patterns onto a mount point's transfer root; unanchored patterns pass through. */
export function rebaseExcludes(excludes: readonly string[], mount: string): string[] {
  const out: string[] = [];
  for (const e of excludes) {
    if (!e.startsWith('/')) {
      out.push(e);
      continue;
    }
    if (mount === '/') {
      out.push(e);
      continue;
    }
    if (e.startsWith(`${mount}/`)) out.push(e.slice(mount.length));
  }
  return out;
}

function relativeTo(path: string, mount: string): string | undefined {
  if (mount === '/') return path.replace(/^\/+/, '') || undefined;
  return path.startsWith(`${mount}/`) ? path.slice(mount.length + 1) : undefined;
}

/** File systems that hold data worth capturing; everything else (proc, tmpfs, cgroup, …) is skipped. */
export const DISK_FILESYSTEMS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'f2fs', 'jfs', 'reiserfs', 'zfs', 'exfat', 'ntfs', 'ntfs3']);

/**
 * Which mounts to capture, and in which order: '/' always, then every disk
 * file system mounted below it (e.g. /boot, /boot/efi, /home), parents first.
 * Mounts under an excluded path (absolute exclude ending in '/*' or '/**') are skipped.
 */
export function planMounts(mounts: ReadonlyArray<{ mountpoint: string; type: string }>, excludes: readonly string[]): RsyncPlan[] {
  const excludedRoots = excludes.filter((e) => e.startsWith('/')).map((e) => e.replace(/\/\*+$/, '').replace(/\/+$/, '')).filter(Boolean);
  const points = new Set<string>(['/']);
  for (const m of mounts) {
    const p = m.mountpoint.replace(/\/+$/, '') || '/';
    if (!DISK_FILESYSTEMS.has(m.type) || !p.startsWith('/')) continue;
    if (excludedRoots.some((x) => p === x || p.startsWith(`${x}/`))) continue;
    points.add(p);
  }
  const sorted = [...points].sort((a, b) => depth(a) - depth(b) || a.localeCompare(b));
  return sorted.map((mount) => ({
    mount,
    nested: sorted.filter((o) => o !== mount && (mount === '/' || o.startsWith(`${mount}/`))),
  }));
}

const depth = (p: string) => (p === '/' ? 0 : p.split('/').length - 1);
