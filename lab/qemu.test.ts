// The QEMU command line startVm builds (pure; the VMs themselves run in qemu-initramfs.lab.test.ts).
import { describe, expect, it } from 'vitest';
import { OVMF_CODE, OVMF_CODE_SECBOOT, qemuArgs } from './qemu.ts';

const base = { name: 'n1', mac: '52:54:00:00:00:01' } as const;
const after = (args: string[], flag: string): string[] => args.flatMap((a, i) => (args[i - 1] === flag ? [a] : []));

describe('qemuArgs', () => {
  it('puts the NIC on the tap, the serial console on stdio, and never reboots', () => {
    const args = qemuArgs({ ...base, firmware: 'bios', kernel: '/k', initrd: '/i', append: 'quiet' }, 'tn1', undefined);
    expect(after(args, '-netdev')).toEqual(['tap,id=n0,ifname=tn1,script=no,downscript=no']);
    expect(after(args, '-device')).toEqual(['virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01,romfile=']);
    expect(args).toEqual(expect.arrayContaining(['-nographic', '-no-reboot', '-accel', 'tcg']));
    expect(after(args, '-serial')).toEqual(['stdio']);
    expect(after(args, '-append')).toEqual(['console=ttyS0 quiet']);
    expect(args.some((a) => a.includes('pflash'))).toBe(false);
  });

  it('keeps an explicit console= and uses OVMF code read-only plus the per-VM vars copy', () => {
    const args = qemuArgs({ ...base, firmware: 'uefi', kernel: '/k', append: 'console=ttyS0,115200' }, 't', '/tmp/x/VARS.fd');
    expect(after(args, '-append')).toEqual(['console=ttyS0,115200']);
    expect(after(args, '-drive')).toEqual([
      `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
      'if=pflash,format=raw,unit=1,file=/tmp/x/VARS.fd',
    ]);
    expect(() => qemuArgs({ ...base, firmware: 'uefi' }, 't', undefined)).toThrow(/OVMF/);
  });

  it('netboots from the NIC first with QEMU\'s iPXE ROM unless told otherwise', () => {
    expect(after(qemuArgs({ ...base, firmware: 'bios', netboot: true }, 't', undefined), '-device')).toEqual([
      'virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01,bootindex=1',
    ]);
    const noRom = qemuArgs({ ...base, firmware: 'uefi', netboot: true, nicRom: '', disk: '/d.qcow2' }, 't', '/v');
    expect(after(noRom, '-device')[0]).toMatch(/bootindex=1,romfile=$/);
    expect(after(noRom, '-drive')).toContain('file=/d.qcow2,format=qcow2,if=none,id=disk0,werror=report,rerror=report');
    expect(after(noRom, '-device')).toContain('virtio-blk-pci,drive=disk0,bootindex=2');
    expect(noRom).toContain('-no-reboot');
    expect(qemuArgs({ ...base, firmware: 'bios', netboot: true, allowReboot: true }, 't', undefined)).not.toContain('-no-reboot');
    expect(() => qemuArgs({ ...base, firmware: 'bios', netboot: true, kernel: '/k' }, 't', undefined)).toThrow(/exclusive/);
  });

  it('runs Secure Boot as OVMF needs it: q35 with SMM, the secboot code, a flash writable only from SMM', () => {
    const args = qemuArgs({ ...base, firmware: 'uefi', netboot: true, nicRom: '', secureBoot: true }, 't', '/v');
    expect(after(args, '-machine')).toEqual(['q35,smm=on']);
    expect(after(args, '-global')).toEqual(['driver=cfi.pflash01,property=secure,value=on']);
    expect(after(args, '-drive')[0]).toBe(`if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE_SECBOOT}`);
    expect(after(qemuArgs({ ...base, firmware: 'uefi', kernel: '/k' }, 't', '/v'), '-machine')).toEqual(['pc']);
  });
});
