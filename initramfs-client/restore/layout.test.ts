import { describe, expect, it } from 'vitest';
import { imageMetaSchema } from '../../images/meta.ts';
import { ImgsrvError } from '../../core/errors.ts';
import { GPT_TYPES, mappingFor, planLayout, requiredBytes } from './layout.ts';
import { gptFacts, mbrFacts, metaFor, treeFacts } from './testdata/facts.ts';

const MiB = 1024 * 1024;
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('planLayout', () => {
  it('fixtures are valid image metadata', () => {
    for (const f of [gptFacts, mbrFacts, treeFacts]) expect(imageMetaSchema.safeParse(metaFor(f, MiB)).success).toBe(true);
  });

  it('recreates a GPT layout from the disk holding /, the last partition grown to the disk end', () => {
    const plan = planLayout(gptFacts, { path: '/dev/vda', sizeBytes: 160 * MiB });
    expect(plan.table).toBe('gpt');
    const [p1, p2, p3, p4] = plan.partitions;
    expect(p1).toMatchObject({ number: 1, role: 'bios_grub', startBytes: MiB, sizeBytes: MiB, type: GPT_TYPES.biosGrub, name: 'bios' });
    expect(p1!.fs).toBeUndefined();
    expect(p2).toMatchObject({ role: 'esp', mountpoint: '/boot/efi', type: GPT_TYPES.esp, fs: { type: 'vfat', label: 'ESP', oldUuid: '1A2B-3C4D' } });
    expect(p2!.fs!.newUuid).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
    expect(p3).toMatchObject({ role: 'root', mountpoint: '/', startBytes: 34 * MiB, sizeBytes: 64 * MiB, grows: false, oldDevice: '/dev/nvme0n1p3' });
    expect(p3!.fs!.newUuid).toMatch(UUID4);
    // /data is last: it grows, to the last whole MiB before the GPT backup table
    expect(p4).toMatchObject({ role: 'data', mountpoint: '/data', startBytes: 98 * MiB, grows: true, oldDevice: '/dev/nvme0n1p4' });
    expect(p4!.startBytes + p4!.sizeBytes).toBe(159 * MiB);
  });

  it('refuses an MBR disk too small for the moved swap', () => {
    expect(() => planLayout(mbrFacts, { path: '/dev/sda', sizeBytes: 200 * MiB })).toThrow(/TOO SMALL/);
  });

  it('grows an MBR root, moves the extended swap to the end (1 MiB gap kept), and maps swap with its captured label', () => {
    const plan = planLayout(mbrFacts, { path: '/dev/sda', sizeBytes: 1200 * MiB });
    const by = Object.fromEntries(plan.partitions.map((p) => [p.number, p]));
    expect(by[2]).toMatchObject({ startBytes: 200 * MiB, sizeBytes: 1000 * MiB });
    expect(by[5]).toMatchObject({ role: 'swap', startBytes: 201 * MiB, sizeBytes: 999 * MiB, type: '82', swap: { label: 'swap0', oldUuid: '55555555-2222-4333-8444-555555555555' } });
    expect(by[1]).toMatchObject({ role: 'root', grows: true, startBytes: MiB, sizeBytes: 198 * MiB, type: '83' });
    const mapping = mappingFor(plan, new Map([[1, '/dev/sda1'], [5, '/dev/sda5']]));
    expect(mapping).toEqual([
      expect.objectContaining({ device: '/dev/sda1', mountpoint: '/', fsType: 'ext4', oldUuid: '33333333-2222-4333-8444-555555555555', oldDevice: '/dev/sda1', kept: false }),
      expect.objectContaining({ device: '/dev/sda5', fsType: 'swap', newLabel: 'swap0', oldLabel: 'swap0', oldDevice: '/dev/sda5' }),
    ]);
  });

  it('uses the default layout for a plain tree', () => {
    const plan = planLayout(treeFacts, { path: '/dev/vda', sizeBytes: 100 * MiB });
    expect(plan.table).toBe('gpt');
    expect(plan.partitions.map((p) => [p.number, p.role, p.startBytes / MiB, p.sizeBytes / MiB, p.fs?.type, p.fs?.label, p.mountpoint])).toEqual([
      [1, 'bios_grub', 1, 1, undefined, undefined, undefined],
      [2, 'esp', 2, 64, 'vfat', 'EFI', '/boot/efi'],
      [3, 'root', 66, 33, 'ext4', 'root', '/'],
    ]);
  });

  it('gives fresh identifiers every time', () => {
    const a = planLayout(gptFacts, { path: '/dev/vda', sizeBytes: 160 * MiB });
    const b = planLayout(gptFacts, { path: '/dev/vda', sizeBytes: 160 * MiB });
    expect(a.partitions[2]!.fs!.newUuid).not.toBe(b.partitions[2]!.fs!.newUuid);
    expect(a.partitions[2]!.fs!.newUuid).not.toBe(a.partitions[2]!.fs!.oldUuid);
  });

  it('refuses a disk that cannot hold the fixed partitions', () => {
    expect(() => planLayout(gptFacts, { path: '/dev/vda', sizeBytes: 80 * MiB })).toThrow(ImgsrvError);
    expect(() => planLayout(gptFacts, { path: '/dev/vda', sizeBytes: 80 * MiB })).toThrow(/TOO SMALL/);
  });
});

describe('requiredBytes', () => {
  it('is growing partition start + (raw bytes not on fixed partitions) * 1.1 + 256 MiB + the tail', () => {
    // default layout: root starts at 66 MiB, GPT tail < 1 MiB
    const tree = requiredBytes(metaFor(treeFacts, 1000 * MiB));
    expect(tree).toBeGreaterThan(66 * MiB + 1100 * MiB + 256 * MiB);
    expect(tree).toBeLessThanOrEqual(66 * MiB + 1100 * MiB + 256 * MiB + MiB);
    // GPT sample: / (20 MiB) and /boot/efi (1 MiB) are on fixed partitions, /data (5 MiB) grows
    const gpt = requiredBytes(metaFor(gptFacts, 26 * MiB));
    expect(gpt).toBeGreaterThan(98 * MiB + Math.ceil(5 * MiB * 1.1) + 256 * MiB);
    expect(gpt).toBeLessThanOrEqual(98 * MiB + Math.ceil(5 * MiB * 1.1) + 256 * MiB + MiB);
    // MBR: root grows, the moved swap (1000 MiB extended) is tail
    const mbr = requiredBytes(metaFor(mbrFacts, 100 * MiB));
    expect(mbr).toBeGreaterThanOrEqual(MiB + 110 * MiB + 256 * MiB + 1000 * MiB);
  });
});
