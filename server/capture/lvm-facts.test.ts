// lvm's JSON reports as Debian 12's lvm2 2.03.16 prints them (every value a string, leading spaces),
// and what the parser makes of damaged or missing ones.
import { describe, expect, it } from 'vitest';
import { dmName } from '../../images/meta.ts';
import { lvmFacts, parseLvmReport } from './lvm-facts.ts';

// `lvm lvs --reportformat json --units b --nosuffix -o vg_name,lv_name,lv_size,lv_layout,lv_role,lv_dm_path,origin`, verbatim.
const LVS = `  {
      "report": [
          {
              "lv": [
                  {"vg_name":"vg0", "lv_name":"home", "lv_size":"41943040", "lv_layout":"linear", "lv_role":"public", "lv_dm_path":"/dev/mapper/vg0-home", "origin":""},
                  {"vg_name":"vg0", "lv_name":"swap-1", "lv_size":"20971520", "lv_layout":"linear", "lv_role":"public", "lv_dm_path":"/dev/mapper/vg0-swap--1", "origin":""}
              ]
          }
      ]
  }
`;
const VGS = '  {\n      "report": [\n          {\n              "vg": [\n                  {"vg_name":"vg0", "vg_extent_size":"4194304", "vg_size":"205520896"}\n              ]\n          }\n      ]\n  }\n';
const PVS = '  {\n      "report": [\n          {\n              "pv": [\n                  {"pv_name":"/dev/nvme0n1p3", "vg_name":"vg0", "pv_size":"205520896"}\n              ]\n          }\n      ]\n  }\n';

describe('lvm reports', () => {
  it('reads rows of each kind; anything unreadable is no rows', () => {
    expect(parseLvmReport(LVS, 'lv').map((r) => [r.lv_name, r.lv_size, r.lv_dm_path])).toEqual([['home', '41943040', '/dev/mapper/vg0-home'], ['swap-1', '20971520', '/dev/mapper/vg0-swap--1']]);
    expect(parseLvmReport(LVS, 'vg')).toEqual([]);
    for (const bad of ['', 'command not found', '{"report": 3}', '{"report": [{"lv": [null, 7]}]}', '  WARNING: x\n{']) expect(parseLvmReport(bad, 'lv')).toEqual([]);
  });

  it('ties PVs to partitions (nvme names too) and LVs to what the host says they hold', () => {
    const disks = [{ name: 'nvme0n1', sizeBytes: 2 ** 30, partitions: [{ number: 3, startBytes: 2 ** 20, sizeBytes: 2 ** 29, type: 'e6d6d379-f507-44c2-a23c-238f2a3df928' }] }];
    const facts = lvmFacts({ vgs: VGS, pvs: PVS, lvs: LVS }, {
      disks,
      use: (names) => (names.includes('/dev/mapper/vg0-swap--1') ? { fs: { type: 'swap', uuid: 'u-swap' } } : { fs: { type: 'ext4' }, mountpoint: '/home', mountOptions: 'defaults', usedBytes: 5 }),
    });
    expect(facts).toEqual({
      vgs: [{
        name: 'vg0', extentBytes: 4194304, sizeBytes: 205520896,
        pvs: [{ device: '/dev/nvme0n1p3', sizeBytes: 205520896, disk: 'nvme0n1', partition: 3 }],
        lvs: [
          { name: 'home', sizeBytes: 41943040, layout: 'linear', role: 'public', mountpoint: '/home', fs: { type: 'ext4', mountOptions: 'defaults', usedBytes: 5 } },
          { name: 'swap-1', sizeBytes: 20971520, layout: 'linear', role: 'public', fs: { type: 'swap', uuid: 'u-swap' } },
        ],
      }],
    });
    expect(lvmFacts({ vgs: '', pvs: '', lvs: '' }, { disks, use: () => ({}) })).toBeUndefined();
  });

  it('names LVs as device-mapper does', () => {
    expect(dmName('vg0', 'root')).toBe('vg0-root');
    expect(dmName('vg-sys', 'swap-1')).toBe('vg--sys-swap--1');
  });
});
