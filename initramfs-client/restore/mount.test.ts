import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { bindSystemDirs, mountOrder, mountsUnder, unbindSystemDirs, unmountTarget } from './mount.ts';
import { createRunner } from './run.ts';
import { netbootRunner } from './testdata/netboot-runner.ts';

const runner = createRunner(silentLogger);
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsrv-mount-'));
});
afterEach(async () => {
  await unbindSystemDirs(runner, dir).catch(() => {});
  await unmountTarget(runner, dir).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

describe('mount order', () => {
  it('mounts / first and deeper points after their parents; swap left out', () => {
    const m = (mountpoint: string | undefined, fsType = 'ext4') => ({ device: `/dev/x${mountpoint}`, fsType, ...(mountpoint ? { mountpoint } : {}) });
    const order = mountOrder([m('/boot/efi', 'vfat'), m('/var/lib/mysql'), m(undefined, 'swap'), m('/boot'), m('/'), m('/var')]);
    expect(order.map((x) => x.mountpoint)).toEqual(['/', '/boot', '/var', '/boot/efi', '/var/lib/mysql']);
  });

  it('reads mount points below a directory from a mounts file, octal escapes decoded, deepest first', async () => {
    const f = join(dir, 'mounts');
    await writeFile(f, '/dev/a /mnt/t ext4 rw 0 0\n/dev/b /mnt/t/my\\040data ext4 rw 0 0\n/dev/c /mnt/tx ext4 rw 0 0\n/dev/d /mnt/t/boot/efi vfat rw 0 0\n');
    expect(await mountsUnder('/mnt/t', f)).toEqual(['/mnt/t/boot/efi', '/mnt/t/my data', '/mnt/t']);
  });
});

// The netboot environment's mount and umount are busybox applets; the host's are util-linux.
describe.each([
  ['util-linux', runner],
  ['busybox, as on the node', netbootRunner(runner)],
])('bindSystemDirs with %s', (_name, run) => {
  it('binds /dev, /proc, /sys into a root and removes them again, submounts included, tmpfs mounts under the root too', async () => {
    await mkdir(join(dir, 'root'));
    const root = join(dir, 'root');
    await run.run('tmpfs', ['mount', '-t', 'tmpfs', 'tmpfs', root]);
    await bindSystemDirs(run, root);
    const mounted = await mountsUnder(root);
    for (const d of ['dev', 'proc', 'sys']) expect(mounted).toContain(join(root, d));
    // the host's submounts came along (/dev/pts, /sys/fs/cgroup …) and must go with them
    expect(mounted.length).toBeGreaterThan(4);
    await unbindSystemDirs(run, root);
    expect(await mountsUnder(root)).toEqual([root]);
    await unmountTarget(run, root);
    expect(await mountsUnder(root)).toEqual([]);
    // the host's own mounts are untouched
    expect(await mountsUnder('/proc')).toContain('/proc');
    expect(await mountsUnder('/dev')).toContain('/dev/pts');
  });
});
