import { describe, expect, it } from 'vitest';
import { chooseTarget } from '../client/restore.ts';
import type { DiskInfo } from './disks.ts';
import { planLayout, requiredBytes } from './layout.ts';
import { mkfsArgv } from './partition.ts';
import { layoutWithScratch, placeScratch, scratchBytes, scratchPossible } from './scratch.ts';
import { gptFacts, mbrFacts, metaFor, treeFacts } from './testdata/facts.ts';

const MiB = 1 << 20;
const GiB = 1 << 30;

/** An image of `raw` bytes packed to `compressed`, 256 KiB pieces. */
function meta(facts: typeof gptFacts, raw: number, compressed: number) {
  const m = metaFor(facts, raw);
  return { ...m, artifact: { ...m.artifact, compressedBytes: compressed }, torrent: { file: 'info.bencode' as const, infoHash: 'a'.repeat(40), pieceLength: 256 * 1024, pieces: Math.ceil(compressed / (256 * 1024)) } };
}

const disk = (sizeBytes: number): DiskInfo => ({
  name: 'vda', path: '/dev/vda', sizeBytes, removable: false, readOnly: false, rotational: true, model: '', serial: '', wwid: '', transport: 'virtio', sysPath: '/sys/devices/pci0000:00/0000:00:04.0/virtio1', holdsMounts: false,
});

describe('scratch area', () => {
  it('sits at the end of the growing partition, whose file system is made short by it', () => {
    const m = meta(treeFacts, 3 * GiB, 1.2 * GiB);
    const bytes = scratchBytes(m);
    // pieces + 1 MiB of header and bitfield, MiB-aligned, + the 1 MiB gap before the partition's end
    expect(bytes).toBe(Math.ceil((1.2 * GiB + MiB) / MiB) * MiB + MiB);
    const layout = planLayout(treeFacts, { path: '/dev/vda', sizeBytes: 8 * GiB });
    expect(scratchPossible(layout, [])).toEqual({ ok: true });
    const s = placeScratch(layout, bytes);
    const root = layout.partitions.find((p) => p.grows)!;
    expect(s).toMatchObject({ kind: 'disk', diskPath: '/dev/vda', partition: root.number, fsType: 'ext4', fsBytes: s.offsetBytes - root.startBytes });
    expect(s.offsetBytes % MiB).toBe(0);
    expect(s.offsetBytes + s.sizeBytes).toBeLessThanOrEqual(root.startBytes + root.sizeBytes - MiB);
    const short = layoutWithScratch(layout, s);
    const shortRoot = short.partitions.find((p) => p.grows)!;
    // The partition table is the image's: the same partitions, only the file system is short.
    expect(short.partitions.map((p) => [p.startBytes, p.sizeBytes])).toEqual(layout.partitions.map((p) => [p.startBytes, p.sizeBytes]));
    expect(shortRoot.fs!.sizeBytes).toBe(s.fsBytes);
    expect(mkfsArgv(shortRoot, '/dev/vda3')).toEqual([['mkfs.ext4', '-F', '-q', '-E', 'nodiscard', '-U', shortRoot.fs!.newUuid, '-L', 'root', '/dev/vda3', `${s.fsBytes / 1024}k`]]);
    expect(mkfsArgv({ ...shortRoot, fs: { ...shortRoot.fs!, type: 'xfs' } }, '/dev/vda3')![0]).toEqual(['mkfs.xfs', '-f', '-q', '-K', '-d', `size=${s.fsBytes}`, '-m', `uuid=${shortRoot.fs!.newUuid}`, '-L', 'root', '/dev/vda3']);
  });

  it('works with an MBR root that grows in the middle (swap after it): the area sits between root and the moved swap', () => {
    const layout = planLayout(mbrFacts, { path: '/dev/sda', sizeBytes: 4 * GiB });
    const s = placeScratch(layout, 512 * MiB);
    const root = layout.partitions.find((p) => p.grows)!;
    const swap = layout.partitions.find((p) => p.role === 'swap')!;
    expect(root.role).toBe('root');
    expect(s.offsetBytes).toBeGreaterThan(root.startBytes);
    expect(s.offsetBytes + s.sizeBytes).toBeLessThan(swap.startBytes);
  });

  it('is not possible when the growing partition is vfat or kept', () => {
    const vfatData = { ...gptFacts, disks: gptFacts.disks.map((d) => ({ ...d, partitions: d.partitions.map((p) => (p.number === 4 ? { ...p, fs: { ...p.fs!, type: 'vfat' } } : p)) })), filesystems: gptFacts.filesystems.map((f) => (f.mountpoint === '/data' ? { ...f, type: 'vfat' } : f)) };
    expect(scratchPossible(planLayout(vfatData, { path: '/dev/vda', sizeBytes: 30 * GiB }), [])).toMatchObject({ ok: false, reason: expect.stringMatching(/vfat/) });
    expect(scratchPossible(planLayout(gptFacts, { path: '/dev/vda', sizeBytes: 30 * GiB }), ['/data/'])).toMatchObject({ ok: false, reason: expect.stringMatching(/kept/) });
  });

  it('the too-small refusal counts the image and its scratch area, before anything is written', () => {
    const m = meta(treeFacts, 2 * GiB, 1.5 * GiB);
    const need = requiredBytes(m) + scratchBytes(m);
    expect(() => chooseTarget([disk(need - MiB)], m, null, { keep: [], freeRam: 4 * GiB })).toThrow(/TOO SMALL .*needs at least .*\(the image and its .* scratch area\)/);
    const t = chooseTarget([disk(need)], m, null, { keep: [], freeRam: 512 * MiB });
    expect(t.scratch).toMatchObject({ kind: 'disk', partition: 3 });
    // The root file system still holds the image with room to spare.
    const root = t.layout.partitions.find((p) => p.grows)!;
    expect(root.fs!.sizeBytes!).toBeGreaterThanOrEqual(2 * GiB * 1.1);
  });

  it('without a scratch area the pieces stay in RAM, and an image RAM cannot hold is refused', () => {
    const m = meta(gptFacts, GiB, 900 * MiB);
    const keep = ['/data'];
    expect(chooseTarget([disk(30 * GiB)], m, null, { keep, freeRam: 2 * GiB }).scratch).toMatchObject({ kind: 'ram', reason: expect.stringMatching(/kept/) });
    expect(() => chooseTarget([disk(30 * GiB)], m, null, { keep, freeRam: GiB })).toThrow(/does not fit in this node's memory .*kept/);
  });
});
