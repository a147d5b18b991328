/**
 * Deployment faults on real VMs (`npm run test:heavy`; several minutes),
 * with image signing configured: a disk too small is refused with nothing
 * written; so is an image whose signature was tampered with; a node whose power is
 * cut mid-restore restores again cleanly when it boots again; and `imgsrv
 * serve` restarted while a node restores does not stop it finishing; a disk
 * that fails mid-write fails the restore and the node waits instead of
 * rebooting into it. The
 * server's upload is capped so the restore lasts long enough for the
 * faults to land in the middle of it. Last, the restored node is retired
 * with wipe: at its next boot it erases its disk and powers off.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labAvailable } from '../../lab/netns.ts';
import { startDeployLab, type DeployLab } from '../../lab/deploy-lab.ts';
import type { Vm } from '../../lab/qemu.ts';
import { sampleAppResponse, SAMPLE_APP_PORT, SAMPLE_UP_LINE } from '../../lab/sample-os.ts';

const run = (await labAvailable()) ? describe : describe.skip;

const SMALL_MAC = '52:54:00:fa:00:01';
const CUT_MAC = '52:54:00:fa:00:02';
const TAMPER_MAC = '52:54:00:fa:00:03';
const FAILING_MAC = '52:54:00:fa:00:04';
const TORRENT_MAC = '52:54:00:fa:00:05';

/** Whether every byte of the file is zero (read in chunks: the disks are 1 GiB). */
function allZeros(file: string): boolean {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(16 << 20);
  const zero = Buffer.alloc(buf.length);
  try {
    for (let at = 0; ; ) {
      const n = readSync(fd, buf, 0, buf.length, at);
      if (n === 0) return true;
      if (!buf.subarray(0, n).equals(zero.subarray(0, n))) return false;
      at += n;
    }
  } finally {
    closeSync(fd);
  }
}

async function waitNode(d: DeployLab, mac: string, pred: (n: Record<string, unknown>) => boolean, timeoutMs: number, vm?: Vm): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = (await d.nodes()).find((x) => x.mac === mac);
    if (n && pred(n)) return n;
    if (Date.now() > deadline) throw new Error(`node ${mac} never reached the state: ${JSON.stringify(n)}\n${vm?.serial.split('\n').slice(-30).join('\n') ?? ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

run('deployment faults', () => {
  let d: DeployLab;
  let work: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgsrv-deploy-faults-'));
    // 2 Mbit/s: the 13.6 MiB image takes about a minute to leave the server.
    d = await startDeployLab({ work, promptTimeout: 5, uploadLimit: '2Mbit', signing: true });
  }, 900_000);
  afterAll(async () => {
    await d?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('refuses a disk too small for the image before writing anything, on the console and to the server', async () => {
    const vm = await d.blankVm({ name: 'small', firmware: 'bios', mac: SMALL_MAC, diskSize: '96M' });
    await vm.waitFor(/too small/i, 300_000);
    const node = await waitNode(d, SMALL_MAC, (n) => n.install === 'failed', 60_000, vm);
    expect(String(node.error)).toMatch(/too small/i);
    expect(vm.serial).toMatch(/Nothing was written to the disk/);
    await vm.stop();
    const disk = readFileSync(join(work, 'small.raw'));
    expect(disk.length).toBe(96 * 2 ** 20);
    expect(disk.every((b) => b === 0)).toBe(true);
  }, 600_000);

  it('refuses an image whose signature was tampered with before touching the disk, on the console and to the server', async () => {
    // The server signed sample@1 at capture (meta.sig beside meta.json); flip one byte of the signature.
    const sigFile = join(d.server.data, 'images', 'sample', '1', 'meta.sig');
    const original = readFileSync(sigFile, 'utf8');
    const sig = JSON.parse(original) as { alg: string; keyId: string; sig: string };
    expect(sig).toMatchObject({ alg: 'ed25519', keyId: d.signingKeyId });
    const bytes = Buffer.from(sig.sig, 'base64');
    bytes[0] = bytes[0]! ^ 0x01;
    writeFileSync(sigFile, JSON.stringify({ ...sig, sig: bytes.toString('base64') }) + '\n');
    try {
      const vm = await d.blankVm({ name: 'tamper', firmware: 'bios', mac: TAMPER_MAC, diskSize: '1G' });
      await vm.waitFor(/refusing sample@1/, 300_000);
      const node = await waitNode(d, TAMPER_MAC, (n) => n.install === 'failed', 60_000, vm);
      expect(String(node.error)).toMatch(new RegExp(`refusing sample@1: the signature by key ${d.signingKeyId} does not match`));
      expect(vm.serial).toMatch(/Nothing was written to the disk/);
      expect(vm.serial).not.toMatch(/image signed by key|target disk|partitioning/);
      await vm.stop();
    } finally {
      writeFileSync(sigFile, original);
    }
    const disk = join(work, 'tamper.raw');
    expect(statSync(disk).size).toBe(2 ** 30);
    expect(allZeros(disk)).toBe(true);
  }, 600_000);

  it("refuses a torrent served for another artifact before touching the disk (the info hash is not the signed meta's)", async () => {
    // What the rsync daemon serves for sample@1: the same metainfo with one piece hash changed, so the
    // info hash is another artifact's (a swapped or tampered .torrent on the server or on the wire).
    const file = join(d.server.data, 'torrents', 'sample', '1.torrent');
    const original = readFileSync(file);
    const info = original.indexOf(Buffer.from('6:pieces'));
    expect(info).toBeGreaterThan(0);
    const tampered = Buffer.from(original);
    const at = original.indexOf(':', info + 8) + 1; // first byte of the piece hashes
    tampered[at] = tampered[at]! ^ 0xff;
    writeFileSync(file, tampered);
    try {
      const vm = await d.blankVm({ name: 'torrent', firmware: 'bios', mac: TORRENT_MAC, diskSize: '1G' });
      await vm.waitFor(/is for another image/, 300_000);
      const node = await waitNode(d, TORRENT_MAC, (n) => n.install === 'failed', 60_000, vm);
      expect(String(node.error)).toMatch(/the torrent at rsync:\/\/\S+ is for another image \(info hash [0-9a-f]{40}, the image's meta says [0-9a-f]{40}\)/);
      expect(vm.serial).toMatch(/Nothing was written to the disk/);
      expect(vm.serial).not.toMatch(/target disk|partitioning/);
      await vm.stop();
    } finally {
      writeFileSync(file, original);
    }
    const disk = join(work, 'torrent.raw');
    expect(statSync(disk).size).toBe(2 ** 30);
    expect(allZeros(disk)).toBe(true);
  }, 600_000);

  it('restores again cleanly after a power cut mid-restore, and finishes across a server restart', async () => {
    let vm = await d.blankVm({ name: 'cut1', firmware: 'bios', mac: CUT_MAC, diskSize: '1G' });
    // The first restore is under way (partitions made, bytes going to disk): pull the plug.
    await vm.waitFor(/restoring: disk \d+%/, 600_000);
    await vm.stop();
    expect((await waitNode(d, CUT_MAC, () => true, 10_000)).install).toBe('installing');

    // Power on again with the half-written disk: the node restores from the start.
    vm = await d.blankVm({ name: 'cut2', firmware: 'bios', mac: CUT_MAC, disk: join(work, 'cut1.raw') });
    await vm.waitFor(/imgsrv: deploying sample@1/, 600_000);
    await vm.waitFor(/restoring: disk \d+%/, 600_000);
    // And the server goes away for a while in the middle of it.
    await d.restartServer(5000);
    const up = await vm.waitFor(SAMPLE_UP_LINE, 900_000);
    expect(up[1]).toMatch(/^node-\d+$/);
    expect(vm.serial).toMatch(/imgsrv: booting from local disk/);
    const body = await d.srv.exec('curl', ['-sS', '--max-time', '20', `http://${up[2]}:${SAMPLE_APP_PORT}/`]);
    expect(body).toMatch(sampleAppResponse(up[1]!));
    const node = await waitNode(d, CUT_MAC, (n) => n.install === 'installed', 60_000, vm);
    expect(node).toMatchObject({ hostname: up[1], installedImage: 'sample@1', error: null });
    await vm.stop();
  }, 1_500_000);

  it('a disk that fails mid-write fails the restore, is reported, and the node never reboots into it', async () => {
    // The VM's disk file lives on its own tmpfs; mid-restore the tmpfs shrinks to what it holds, so every
    // block the guest writes from then on fails (QEMU passes the host's ENOSPC on as EIO: werror=report).
    const backing = join(work, 'failing-backing');
    mkdirSync(backing);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1100M', 'tmpfs', backing]);
    try {
      const disk = join(backing, 'failing.raw');
      execFileSync('truncate', ['-s', '1G', disk]);
      const vm = await d.blankVm({ name: 'failing', firmware: 'bios', mac: FAILING_MAC, disk });
      await vm.waitFor(/restoring: disk \d+%/, 600_000);
      const s = statfsSync(backing);
      const usedKiB = Math.ceil(((s.blocks - s.bfree) * s.bsize) / 1024);
      execFileSync('mount', ['-o', `remount,size=${usedKiB + 1024}k`, backing]);
      const node = await waitNode(d, FAILING_MAC, (n) => n.install === 'failed', 600_000, vm);
      console.log(`disk failed with ${(usedKiB / 1024).toFixed(1)} MiB written; the node reported: ${String(node.error).split('\n')[0]}`);
      expect(String(node.error)).toMatch(/restore failed/);
      expect(vm.serial).toMatch(/will not reboot into it/);
      // It waits for the operator: no reboot, no second boot, still running a while later.
      await expect(vm.waitExit(20_000)).rejects.toThrow(/still running/);
      expect(vm.serial).not.toMatch(/rebooting into the restored system/);
      expect(vm.serial.match(/imgsrv-client \S+ starting/g)?.length).toBe(1);
      expect((await waitNode(d, FAILING_MAC, () => true, 10_000)).install).toBe('failed');
      await vm.stop();
    } finally {
      execFileSync('umount', ['-l', backing]);
    }
  }, 1_200_000);

  it('a node retired with wipe erases its disk at its next boot, powers off, and leaves the inventory', async () => {
    const disk = join(work, 'cut1.raw');
    expect(execFileSync('blkid', ['-p', '-o', 'value', '-s', 'PTTYPE', disk], { encoding: 'utf8' }).trim()).toMatch(/gpt|dos/);
    await d.server.cli(['nodes', 'retire', CUT_MAC, '--wipe']);
    expect((await d.nodes()).map((n) => n.mac)).not.toContain(CUT_MAC);

    const vm = await d.blankVm({ name: 'wipe', firmware: 'bios', mac: CUT_MAC, disk });
    await vm.waitFor(/disk \S+ wiped/, 600_000);
    expect(await vm.waitExit(120_000)).not.toBeNull();
    const all = JSON.parse(await d.server.cli(['nodes', 'ls', '--all', '--json'])) as Array<Record<string, unknown>>;
    expect(all.find((n) => n.mac === CUT_MAC)).toMatchObject({ phase: 'retired', retired: { wipe: false } });
    // Nothing left to find: no partition table, no file system signature, zeros at both ends (GPT keeps a copy at the end).
    let found = '';
    try {
      found = execFileSync('blkid', ['-p', disk], { encoding: 'utf8' });
    } catch {
      /* blkid exits 2 when it finds nothing */
    }
    expect(found).toBe('');
    const size = statSync(disk).size;
    const fd = openSync(disk, 'r');
    const buf = Buffer.alloc(2 << 20);
    for (const at of [0, size - buf.length]) {
      readSync(fd, buf, 0, buf.length, at);
      expect(buf.every((b) => b === 0), `bytes at ${at}`).toBe(true);
    }
    closeSync(fd);
  }, 900_000);
});
