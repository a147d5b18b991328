import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chown, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import type { PartitionMapping } from './layout.ts';
import { rewriteIdentifiers } from './rewrite.ts';

let dir: string;
let root: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rewrite-'));
  root = join(dir, 'root');
  await mkdir(join(root, 'etc'), { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(rel: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await writeFile(join(root, rel), text);
}
const get = (rel: string): Promise<string> => readFile(join(root, rel), 'utf8');

/** util-linux's own fstab parser as the oracle: source, target, type per entry. */
function parseFstab(file: string): Array<{ source: string; target: string; fstype: string; options: string; passno: number }> {
  const out = execFileSync('findmnt', ['--tab-file', file, '--json', '-o', 'SOURCE,TARGET,FSTYPE,OPTIONS,PASSNO'], { encoding: 'utf8' });
  return (JSON.parse(out) as { filesystems: Array<{ source: string; target: string; fstype: string; options: string; passno: number }> }).filesystems;
}

describe('rewriteIdentifiers', () => {
  it('takes the sample UUIDs from fstab alone (plain-tree image) and adds the default layout ESP', async () => {
    const oldRoot = randomUUID();
    const newRoot = randomUUID();
    await put('etc/fstab', `# <file system> <mount point> <type> <options> <dump> <pass>\nUUID=${oldRoot}  /  ext4  errors=remount-ro  0  1\n/swapfile none swap sw 0 0\n`);
    await put('boot/grub/grub.cfg', `search --no-floppy --fs-uuid --set=root ${oldRoot}\nlinux /boot/vmlinuz root=UUID=${oldRoot} ro quiet\n`);
    await put('etc/kernel/cmdline', `root=UUID=${oldRoot.toUpperCase()} ro\n`);
    const mapping: PartitionMapping[] = [
      { device: '/dev/vda1', role: 'bios_grub', number: 1, fsType: 'bios_grub', newUuid: '', kept: false },
      { device: '/dev/vda2', role: 'esp', number: 2, mountpoint: '/boot/efi', fsType: 'vfat', newUuid: 'ABCD-1234', newLabel: 'EFI', kept: false },
      { device: '/dev/vda3', role: 'root', number: 3, mountpoint: '/', fsType: 'ext4', newUuid: newRoot, newLabel: 'root', kept: false },
    ];
    const res = await rewriteIdentifiers(root, mapping, { log: silentLogger });
    expect(res).toEqual([
      { file: 'etc/fstab', replacements: 2 },
      { file: 'boot/grub/grub.cfg', replacements: 2 },
      { file: 'etc/kernel/cmdline', replacements: 1 },
    ]);
    expect(parseFstab(join(root, 'etc/fstab'))).toEqual([
      { source: `UUID=${newRoot}`, target: '/', fstype: 'ext4', options: 'errors=remount-ro', passno: 1 },
      { source: '/swapfile', target: 'none', fstype: 'swap', options: 'sw', passno: 0 },
      { source: 'UUID=ABCD-1234', target: '/boot/efi', fstype: 'vfat', options: 'umask=0077,nofail', passno: 2 },
    ]);
    expect(await get('etc/fstab')).toContain('# <file system>');
    const cfg = await get('boot/grub/grub.cfg');
    expect(cfg).not.toContain(oldRoot);
    expect(cfg).toContain(`--set=root ${newRoot}\n`);
    expect(await get('etc/kernel/cmdline')).toBe(`root=UUID=${newRoot} ro\n`);
  });

  it('maps device names, labels and PARTUUIDs by mount point, and facts UUIDs everywhere', async () => {
    const [oldBoot, newBoot, newRoot, oldSwap, newSwap, oldLuks, newLuks, newData] = Array.from({ length: 8 }, () => randomUUID());
    await put('etc/fstab', [
      '/dev/sda1 / ext4 defaults 0 1',
      `PARTUUID=0d4e2a1c-02 /boot ext4 defaults 0 2`,
      'LABEL=swap none swap sw 0 0',
      `/dev/disk/by-uuid/${oldBoot} /srv ext4 defaults 0 2`,
      '/dev/sda10 /data xfs defaults 0 2',
      'tmpfs /tmp tmpfs defaults 0 0',
      '',
    ].join('\n'));
    await put('etc/crypttab', `cryptdata UUID=${oldLuks} none luks\ncryptswap LABEL=swap /dev/urandom swap\n`);
    await put('etc/default/grub', `GRUB_CMDLINE_LINUX="root=/dev/sda1 resume=PARTUUID=0d4e2a1c-02"\n`);
    await put('etc/default/grub.d/50-cloud.cfg', `GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT resume=UUID=${oldSwap}"\n`);
    await put('etc/initramfs-tools/conf.d/resume', `RESUME=LABEL=swap\n`);
    await put('boot/loader/entries/debian.conf', `options root=/dev/sda1 ro\n`);
    await put('boot/extlinux/extlinux.conf', `APPEND root=/dev/sda10 ro\n`);
    const mapping: PartitionMapping[] = [
      { device: '/dev/nvme0n1p1', role: 'root', number: 1, mountpoint: '/', fsType: 'ext4', newUuid: newRoot!, kept: false },
      { device: '/dev/nvme0n1p2', role: 'data', number: 2, mountpoint: '/boot', fsType: 'ext4', oldUuid: 'aaaaaaaa-0000-0000-0000-000000000000', newUuid: newBoot!, kept: false },
      { device: '/dev/nvme0n1p3', role: 'swap', number: 3, fsType: 'swap', oldUuid: oldSwap, oldLabel: 'swap', newUuid: newSwap!, kept: false },
      { device: '/dev/nvme0n1p4', role: 'data', number: 4, mountpoint: '/srv', fsType: 'ext4', newUuid: newRoot!.replace(/^./, 'f'), kept: false },
      { device: '/dev/nvme0n1p5', role: 'data', number: 5, mountpoint: '/data', fsType: 'xfs', oldUuid: newData, newUuid: newData!, kept: true },
      { device: '/dev/nvme0n1p6', role: 'data', number: 6, fsType: 'crypto_LUKS', oldUuid: oldLuks, newUuid: newLuks!, kept: false },
    ];
    await rewriteIdentifiers(root, mapping, { log: silentLogger, sampleDevices: { '/dev/sda1': '/' } });
    const fstab = parseFstab(join(root, 'etc/fstab'));
    expect(fstab.map((e) => `${e.source} ${e.target}`)).toEqual([
      `UUID=${newRoot} /`,
      `UUID=${newBoot} /boot`,
      `UUID=${newSwap} none`,
      `UUID=${mapping[3]!.newUuid} /srv`,
      `UUID=${newData} /data`,
      'tmpfs /tmp',
    ]);
    expect(await get('etc/crypttab')).toBe(`cryptdata UUID=${newLuks} none luks\ncryptswap UUID=${newSwap} /dev/urandom swap\n`);
    expect(await get('etc/default/grub')).toBe(`GRUB_CMDLINE_LINUX="root=UUID=${newRoot} resume=UUID=${newBoot}"\n`);
    expect(await get('etc/default/grub.d/50-cloud.cfg')).toContain(`resume=UUID=${newSwap}"`);
    expect(await get('etc/initramfs-tools/conf.d/resume')).toBe(`RESUME=UUID=${newSwap}\n`);
    expect(await get('boot/loader/entries/debian.conf')).toBe(`options root=UUID=${newRoot} ro\n`);
    // /dev/sda10 is /data, not /dev/sda1 with a trailing 0
    expect(await get('boot/extlinux/extlinux.conf')).toBe(`APPEND root=UUID=${newData} ro\n`);
  });

  it('resolves symlinks inside the tree and never writes through one leading out of it; keeps mode and owner', async () => {
    const oldRoot = randomUUID();
    const newRoot = randomUUID();
    await put('etc/fstab.real', `UUID=${oldRoot} / ext4 defaults 0 1\n`);
    await symlink('/etc/fstab.real', join(root, 'etc/fstab'));
    await chown(join(root, 'etc/fstab.real'), 1234, 5678);
    execFileSync('chmod', ['0600', join(root, 'etc/fstab.real')]);
    // a host file, named absolutely and by climbing out with ..
    const hostFile = join(dir, 'host-grub');
    await writeFile(hostFile, `root=UUID=${oldRoot}\n`);
    await symlink(hostFile, join(root, 'etc/crypttab'));
    await mkdir(join(root, 'etc/default'));
    await symlink(`../../../../../../../..${hostFile}`, join(root, 'etc/default/grub'));
    await put('boot/grub/grub.cfg', `linux /vmlinuz root=UUID=${oldRoot}\n`);
    const mapping: PartitionMapping[] = [{ device: '/dev/vda1', role: 'root', number: 1, mountpoint: '/', fsType: 'ext4', newUuid: newRoot, kept: false }];
    const res = await rewriteIdentifiers(root, mapping, { log: silentLogger });
    expect(res.map((r) => r.file)).toEqual(['etc/fstab', 'boot/grub/grub.cfg']);
    expect(await get('etc/fstab.real')).toBe(`UUID=${newRoot} / ext4 defaults 0 1\n`);
    const st = await stat(join(root, 'etc/fstab.real'));
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o600, 1234, 5678]);
    expect(await readFile(hostFile, 'utf8')).toBe(`root=UUID=${oldRoot}\n`);
  });

  it('does nothing when the identifiers are already the new ones', async () => {
    const u = randomUUID();
    await put('etc/fstab', `UUID=${u} / ext4 defaults 0 1\n`);
    const res = await rewriteIdentifiers(root, [{ device: '/dev/sda1', role: 'root', number: 1, mountpoint: '/', fsType: 'ext4', oldUuid: u, newUuid: u, kept: true }], { log: silentLogger });
    expect(res).toEqual([]);
  });
});

describe('rewriteIdentifiers on LVM', () => {
  it('leaves fstab lines naming LVs by /dev/mapper or /dev/<vg> paths as they are, rewrites UUIDs of LVs and partitions', async () => {
    const [oldRoot, newRoot, oldHome, newHome, oldSwap, newSwap, oldBoot, newBoot] = Array.from({ length: 8 }, () => randomUUID());
    await put('etc/fstab', [
      '/dev/mapper/vg--sys-root /  ext4 errors=remount-ro 0 1',
      `UUID=${oldBoot} /boot ext4 defaults 0 2`,
      '/dev/vg-sys/home /home xfs defaults,noatime 0 2',
      `UUID=${oldSwap} none swap sw 0 0`,
      '',
    ].join('\n'));
    await put('etc/initramfs-tools/conf.d/resume', `RESUME=UUID=${oldSwap}\n`);
    await put('boot/grub/grub.cfg', `search --no-floppy --fs-uuid --set=root ${oldBoot}\nlinux /vmlinuz root=/dev/mapper/vg--sys-root ro\n`);
    const pvs = [{ number: 3, device: '/dev/sda3' }];
    const mapping: PartitionMapping[] = [
      { device: '/dev/sda2', role: 'data', number: 2, mountpoint: '/boot', fsType: 'ext4', oldUuid: oldBoot, newUuid: newBoot!, oldDevice: '/dev/sda2', kept: false },
      { device: '/dev/mapper/vg--sys-root', lv: { vg: 'vg-sys', name: 'root', pvs }, role: 'root', number: 3, mountpoint: '/', fsType: 'ext4', oldUuid: oldRoot, newUuid: newRoot!, kept: false },
      { device: '/dev/mapper/vg--sys-home', lv: { vg: 'vg-sys', name: 'home', pvs }, role: 'data', number: 3, mountpoint: '/home', fsType: 'xfs', oldUuid: oldHome, newUuid: newHome!, kept: false },
      { device: '/dev/mapper/vg--sys-swap', lv: { vg: 'vg-sys', name: 'swap', pvs }, role: 'swap', number: 3, fsType: 'swap', oldUuid: oldSwap, newUuid: newSwap!, kept: false },
    ];
    await rewriteIdentifiers(root, mapping, { log: silentLogger });
    expect(await get('etc/fstab')).toBe([
      '/dev/mapper/vg--sys-root /  ext4 errors=remount-ro 0 1',
      `UUID=${newBoot} /boot ext4 defaults 0 2`,
      '/dev/vg-sys/home /home xfs defaults,noatime 0 2',
      `UUID=${newSwap} none swap sw 0 0`,
      '',
    ].join('\n'));
    expect(await get('etc/initramfs-tools/conf.d/resume')).toBe(`RESUME=UUID=${newSwap}\n`);
    expect(await get('boot/grub/grub.cfg')).toBe(`search --no-floppy --fs-uuid --set=root ${newBoot}\nlinux /vmlinuz root=/dev/mapper/vg--sys-root ro\n`);
  });
});
