import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImgsrvError } from '../../core/errors.ts';
import { hostFactsSchema } from '../../images/meta.ts';
import { chooseTarget } from '../client/restore.ts';
import type { DiskInfo } from './disks.ts';
import { mappingFor, planLayout, requiredBytes } from './layout.ts';
import { writeMdadmConf } from './md.ts';
import { MD_RESERVE, mdadmConf, mdCreateArgv } from './md-plan.ts';
import { scratchPossible } from './scratch.ts';
import { metaFor, mdFacts } from './testdata/facts.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MD_UUID = /^[0-9a-f]{8}(:[0-9a-f]{8}){3}$/;

function disk(name: string, gib: number, more: Partial<DiskInfo> = {}): DiskInfo {
  return { name, path: `/dev/${name}`, sizeBytes: gib * GiB, removable: false, readOnly: false, rotational: false, model: 'QEMU HARDDISK', serial: `S-${name}`, wwid: '', transport: 'sata', sysPath: `/sys/devices/pci0000:00/ata1/${name}`, holdsMounts: false, ...more };
}

describe('md RAID1 in the layout plan', () => {
  it('the facts parse as meta.json would carry them', () => {
    expect(hostFactsSchema.parse(mdFacts)).toEqual(mdFacts);
  });

  it('plans the same partitions for both disks: members marked, / grown, the swap array moved to the end; new UUIDs for arrays and file systems', () => {
    const plan = planLayout(mdFacts, { path: '/dev/vda', sizeBytes: 20 * GiB });
    expect(plan.partitions.map((p) => [p.number, p.role, p.md ?? null, p.grows, p.fs ?? null])).toEqual([
      [1, 'bios_grub', null, false, null],
      [2, 'raid', '/dev/md0', true, null],
      [3, 'raid', '/dev/md1', false, null],
    ]);
    const p3 = plan.partitions[2]!;
    expect(p3.startBytes + p3.sizeBytes).toBe(20 * GiB - MiB);
    expect(p3.sizeBytes).toBe(1000 * MiB);
    const [md0, md1] = plan.md!;
    expect(md0).toMatchObject({ device: '/dev/md0', name: 'sample:0', metadata: '1.2', partition: 2, role: 'root', mountpoint: '/', oldUuid: '5c1e0d6a:0b8f4e2a:9d3c1f2e:3d4c5b6a', fs: { type: 'ext4', oldUuid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', mountOptions: 'errors=remount-ro' } });
    expect(md1).toMatchObject({ device: '/dev/md1', partition: 3, role: 'swap', swap: { oldUuid: '1b2c3d4e-5f60-4b7c-9d8e-0f1a2b3c4d5e' } });
    for (const md of plan.md!) {
      expect(md.newUuid).toMatch(MD_UUID);
      expect(md.newUuid).not.toBe(md.oldUuid);
    }
    expect(md0!.fs!.newUuid).not.toBe(md0!.fs!.oldUuid);
  });

  it('needs md\'s own reserve on the growing member, and gets no scratch area', () => {
    const meta = metaFor(mdFacts, 1500 * MiB);
    // everything before the growing member, md's reserve on it, the image's bytes + 10 %, the slack, and the swap member moved to the end
    expect(requiredBytes(meta)).toBe(2 * MiB + MD_RESERVE + Math.ceil(1500 * MiB * 1.1) + 256 * MiB + 1001 * MiB);
    const plan = planLayout(mdFacts, { path: '/dev/vda', sizeBytes: 20 * GiB });
    expect(scratchPossible(plan, [])).toEqual({ ok: false, reason: 'partition 2 is a member of md RAID1 /dev/md0, which gets no scratch area' });
  });

  it('maps the arrays for fstab, mount and boot loader: device /dev/mdN, old and new UUIDs, members on both disks', () => {
    const plan = planLayout(mdFacts, { path: '/dev/vda', sizeBytes: 20 * GiB });
    const [md0, md1] = plan.md!;
    const mapping = mappingFor(plan, new Map(), new Map(), new Map(), new Map([['/dev/md0', ['/dev/vda2', '/dev/vdb2']], ['/dev/md1', ['/dev/vda3', '/dev/vdb3']]]));
    expect(mapping).toEqual([
      { device: '/dev/md0', number: 2, role: 'root', fsType: 'ext4', mountpoint: '/', newUuid: md0!.fs!.newUuid, oldUuid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', kept: false, md: { uuid: md0!.newUuid, oldUuid: md0!.oldUuid, metadata: '1.2', name: 'sample:0', members: ['/dev/vda2', '/dev/vdb2'] } },
      { device: '/dev/md1', number: 3, role: 'swap', fsType: 'swap', newUuid: md1!.swap!.newUuid, oldUuid: '1b2c3d4e-5f60-4b7c-9d8e-0f1a2b3c4d5e', kept: false, md: { uuid: md1!.newUuid, oldUuid: md1!.oldUuid, metadata: '1.2', name: 'sample:1', members: ['/dev/vda3', '/dev/vdb3'] } },
    ]);
  });

  it('mdadm --create: RAID1 of two, the captured metadata and name, the planned UUID, no waiting and no --assume-clean', () => {
    const md = planLayout(mdFacts, { path: '/dev/vda', sizeBytes: 20 * GiB }).md![0]!;
    expect(mdCreateArgv(md, ['/dev/vda2', '/dev/vdb2'])).toEqual(['mdadm', '--create', '/dev/md0', '--run', '--level=1', '--raid-devices=2', '--metadata=1.2', `--uuid=${md.newUuid}`, '--name=sample:0', '/dev/vda2', '/dev/vdb2']);
    expect(mdCreateArgv({ ...md, metadata: '0.90', name: undefined } as typeof md, ['/dev/vda2', '/dev/vdb2'])).not.toContain('--name=sample:0');
  });
});

describe('choosing the two disks of the mirror', () => {
  const meta = metaFor(mdFacts, 1500 * MiB);

  it('takes the first two fixed disks that fit, plans for the smaller, and never a USB stick or a disk too small', () => {
    const t = chooseTarget([disk('sda', 1), disk('sdb', 20), disk('sdc', 16, { transport: 'usb' }), disk('sdd', 12)], meta, undefined, { keep: [], freeRam: 8 * GiB });
    expect([t.disk.path, t.mirror?.path]).toEqual(['/dev/sdb', '/dev/sdd']);
    expect(t.layout.mirror).toEqual({ diskPath: '/dev/sdd', diskBytes: 12 * GiB });
    expect(t.layout.diskPath).toBe('/dev/sdb');
    const last = t.layout.partitions.at(-1)!;
    expect(last.startBytes + last.sizeBytes).toBe(12 * GiB - MiB);
    expect(t.scratch.kind).toBe('ram');
  });

  it('with a hint, two disks it matches', () => {
    const disks = [disk('sda', 20, { model: 'OS' }), disk('sdb', 20, { model: 'DATA' }), disk('sdc', 20, { model: 'OS' })];
    const t = chooseTarget(disks, meta, 'model=OS', { keep: [], freeRam: 8 * GiB });
    expect([t.disk.path, t.mirror?.path]).toEqual(['/dev/sda', '/dev/sdc']);
  });

  it('refuses, before writing, a node with one disk that fits, a hint that matches one disk, a second disk too small', () => {
    const refuse = (disks: DiskInfo[], hint?: string): ImgsrvError => {
      try {
        chooseTarget(disks, meta, hint, { keep: [], freeRam: 8 * GiB });
      } catch (err) {
        return err as ImgsrvError;
      }
      throw new Error('not refused');
    };
    const one = refuse([disk('sda', 20)]);
    expect(one.code).toBe('DISK');
    expect(one.message).toMatch(/^the image is an md RAID1 mirror and needs two disks of at least [\d.]+ GB each; this node has only one \(\/dev\/sda \(21.5 GB, QEMU HARDDISK, sata\): fits\)$/);
    expect(one.hint).toMatch(/second disk.*nothing was written$/);
    expect(refuse([disk('sda', 20), disk('sdb', 1)]).message).toMatch(/only one .*\/dev\/sdb \(1.07 GB, QEMU HARDDISK, sata\): TOO SMALL/);
    expect(refuse([disk('sda', 20), disk('sdb', 20, { removable: true })]).message).toMatch(/sdb .*: removable/);
    const hinted = refuse([disk('sda', 20), disk('sdb', 20)], 'serial=S-sda');
    expect(hinted.message).toMatch(/the target disk hint serial=S-sda matches only one/);
    expect(hinted.hint).toMatch(/both disks match/);
  });
});

describe("the restored system's mdadm.conf", () => {
  const plan = planLayout(mdFacts, { path: '/dev/vda', sizeBytes: 20 * GiB });
  const [md0, md1] = plan.md!;

  it('replaces the sample\'s ARRAY lines (continuation lines too) by the new arrays, keeping everything else', () => {
    const debian = [
      '# mdadm.conf', 'HOMEHOST <system>', 'MAILADDR root', '',
      '# definitions of existing MD arrays',
      'ARRAY /dev/md/0  metadata=1.2 UUID=5c1e0d6a:0b8f4e2a:9d3c1f2e:3d4c5b6a',
      '   name=sample:0',
      'ARRAY /dev/md/1  metadata=1.2 UUID=6D2F1E7B:1C904F3B:8E4D2A3B:4C5D6E7F name=sample:1',
      'ARRAY /dev/md/9 metadata=1.2 UUID=01234567:89abcdef:01234567:89abcdef name=other:9', '',
    ].join('\n');
    expect(mdadmConf(debian, plan.md!)).toBe([
      '# mdadm.conf', 'HOMEHOST <system>', 'MAILADDR root', '',
      '# definitions of existing MD arrays',
      'ARRAY /dev/md/9 metadata=1.2 UUID=01234567:89abcdef:01234567:89abcdef name=other:9', '',
      '# arrays made by imgsrv on this node',
      `ARRAY /dev/md0 metadata=1.2 UUID=${md0!.newUuid} name=sample:0`,
      `ARRAY /dev/md1 metadata=1.2 UUID=${md1!.newUuid} name=sample:1`, '',
    ].join('\n'));
  });

  it('is written where the image keeps it (Debian: /etc/mdadm/mdadm.conf, else /etc/mdadm.conf)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'imgsrv-mdconf-'));
    try {
      await mkdir(join(root, 'etc'));
      expect(await writeMdadmConf(root, plan.md!)).toBe(join(root, 'etc/mdadm.conf'));
      await mkdir(join(root, 'etc/mdadm'));
      await writeFile(join(root, 'etc/mdadm/mdadm.conf'), 'MAILADDR root\nARRAY /dev/md/0 metadata=1.2 UUID=5c1e0d6a:0b8f4e2a:9d3c1f2e:3d4c5b6a name=sample:0\n');
      expect(await writeMdadmConf(root, plan.md!)).toBe(join(root, 'etc/mdadm/mdadm.conf'));
      const text = await readFile(join(root, 'etc/mdadm/mdadm.conf'), 'utf8');
      expect(text).toMatch(/^MAILADDR root\n\n# arrays made by imgsrv on this node\nARRAY \/dev\/md0 /);
      expect(text).not.toContain('5c1e0d6a');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
