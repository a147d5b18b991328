/**
 * Boot loader configuration the restore writes when the image brings none:
 * which kernel to boot, and a minimal grub.cfg or extlinux.conf for it. The
 * text generators are pure; only kernel discovery reads the tree.
 */
import { listInRoot } from './root-path.ts';
import type { PartitionMapping } from './layout.ts';
import { ImgsrvError } from '../../core/errors.ts';

/** A kernel in the tree's /boot and its initrd (file names inside /boot). */
export interface BootKernel {
  version: string;
  kernel: string;
  initrd?: string;
}

/** Where the boot files live: file systems by their new UUIDs, and the path prefix of /boot on its own file system. */
export interface BootTarget {
  rootUuid: string;
  /** UUID of the file system holding /boot (the root one unless /boot is separate). */
  bootUuid: string;
  /** "/boot", or "" when /boot is a file system of its own; behind the subvolume's path when it lives in a btrfs subvolume ("/@/boot"): grub reads btrfs from its top level. */
  prefix: string;
  /** The btrfs subvolume mounted at / ("@"), for the kernel's rootflags=subvol=. */
  rootSubvolume?: string;
}

/** Compare two kernel versions the way `sort -V` does: digit runs as numbers, the rest as text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Initrd names distributions use for kernel <ver>: Debian, Fedora/Arch, SUSE. */
const INITRD_NAMES = (v: string): string[] => [`initrd.img-${v}`, `initramfs-${v}.img`, `initrd-${v}`, `initramfs-${v}`];

/** The newest kernel in root/boot (version-sorted `vmlinuz-<ver>`), with its initrd when there is one; undefined when there is no kernel. */
export async function newestKernel(root: string): Promise<BootKernel | undefined> {
  const names = await listInRoot(root, 'boot');
  const have = new Set(names);
  const versions = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    // a rescue kernel (Fedora's vmlinuz-0-rescue-<id>) is a fallback, never the default
    .filter((v) => !v.includes('rescue'))
    .sort(compareVersions);
  const version = versions.at(-1);
  if (version !== undefined) {
    const initrd = INITRD_NAMES(version).find((n) => have.has(n));
    return { version, kernel: `vmlinuz-${version}`, ...(initrd ? { initrd } : {}) };
  }
  // an unversioned pair (some minimal images)
  if (have.has('vmlinuz')) return { version: '', kernel: 'vmlinuz', ...(have.has('initrd.img') ? { initrd: 'initrd.img' } : {}) };
  return undefined;
}

/** Root and /boot file systems from the mapping; an error when there is no root. */
export function bootTarget(mapping: readonly PartitionMapping[]): BootTarget {
  const root = mapping.find((m) => m.mountpoint === '/');
  if (!root) throw new ImgsrvError('INTERNAL', 'no partition is mounted at / in the restore mapping', { hint: 'the layout plan must give the root file system a partition' });
  const boot = mapping.find((m) => m.mountpoint === '/boot');
  const holder = boot ?? root;
  const subvol = holder.subvolume?.path ? `/${holder.subvolume.path}` : '';
  const target: BootTarget = { rootUuid: root.newUuid, bootUuid: holder.newUuid, prefix: `${subvol}${boot ? '' : '/boot'}` };
  if (root.subvolume?.path) target.rootSubvolume = root.subvolume.path;
  return target;
}

/** The kernel's root= and its options: rootflags=subvol= for a root in a btrfs subvolume. */
function rootArgs(target: BootTarget): string[] {
  return [`root=UUID=${target.rootUuid}`, ...(target.rootSubvolume ? [`rootflags=subvol=${target.rootSubvolume}`] : []), 'ro'];
}

/** The serial console a kernel command line names (console=ttyS<n>[,<baud>…]), last one wins as for the kernel. */
export function serialConsole(kernelArgs: readonly string[]): { unit: number; speed: number } | undefined {
  let found: { unit: number; speed: number } | undefined;
  for (const a of kernelArgs) {
    const m = /^console=ttyS(\d+)(?:,(\d+))?/.exec(a);
    if (m) found = { unit: Number(m[1]), speed: Number(m[2] ?? 9600) };
  }
  return found;
}

/** A minimal grub.cfg booting one kernel: find /boot's file system by UUID, root by UUID on the kernel line. */
export function grubConfig(target: BootTarget, kernel: BootKernel, kernelArgs: readonly string[], title = 'Linux'): string {
  const serial = serialConsole(kernelArgs);
  const lines = ['# written by imgsrv restore: the image had no grub.cfg', 'set timeout=1', 'set default=0'];
  if (serial) {
    lines.push(`serial --unit=${serial.unit} --speed=${serial.speed}`, 'terminal_input serial console', 'terminal_output serial console');
  }
  // no udev in the netboot environment, and the node's disk names differ from the sample's: by UUID only
  lines.push(
    'insmod part_gpt',
    'insmod part_msdos',
    'insmod ext2',
    'insmod xfs',
    'insmod btrfs',
    `search --no-floppy --fs-uuid --set=root ${target.bootUuid}`,
    `menuentry '${title.replace(/'/g, '')}' {`,
    `\tlinux ${target.prefix}/${kernel.kernel} ${[...rootArgs(target), ...kernelArgs].join(' ')}`,
  );
  if (kernel.initrd) lines.push(`\tinitrd ${target.prefix}/${kernel.initrd}`);
  lines.push('}', '');
  return lines.join('\n');
}

/** A minimal extlinux.conf booting one kernel (paths from the top of the file system holding /boot). */
export function extlinuxConfig(target: BootTarget, kernel: BootKernel, kernelArgs: readonly string[]): string {
  const serial = serialConsole(kernelArgs);
  const lines: string[] = [];
  // SERIAL must be the first directive (syslinux docs)
  if (serial) lines.push(`SERIAL ${serial.unit} ${serial.speed}`);
  lines.push('# written by imgsrv restore: the image had no extlinux.conf', 'DEFAULT linux', 'TIMEOUT 10', 'PROMPT 0', 'LABEL linux');
  lines.push(`  LINUX ${target.prefix}/${kernel.kernel}`);
  if (kernel.initrd) lines.push(`  INITRD ${target.prefix}/${kernel.initrd}`);
  lines.push(`  APPEND ${[...rootArgs(target), ...kernelArgs].join(' ')}`, '');
  return lines.join('\n');
}
