import { describe, expect, it } from 'vitest';
import { firmwareOf, selectBoot, type BootPolicy } from './select.ts';

const policy: BootPolicy = { httpBase: 'http://198.18.0.1:8080', tftpServer: '198.18.0.1', biosLoader: 'ipxe', uefiLoader: 'ipxe.efi' };
const mac = '52:54:00:AB:CD:EF';

describe('selectBoot', () => {
  it('gives a BIOS PXE ROM undionly.kpxe over TFTP', () => {
    expect(selectBoot({ mac, arch: 0, isIpxe: false }, policy)).toEqual({ filename: 'undionly.kpxe', via: 'tftp', tftpServer: '198.18.0.1', firmware: 'bios' });
  });
  it('gives pxelinux.0 when the BIOS loader is pxelinux', () => {
    expect(selectBoot({ mac, arch: 0, isIpxe: false }, { ...policy, biosLoader: 'pxelinux' })?.filename).toBe('pxelinux.0');
  });
  it('treats a PXE ROM without option 93 as BIOS', () => {
    expect(selectBoot({ mac, arch: undefined, isIpxe: false }, policy)?.filename).toBe('undionly.kpxe');
  });
  for (const arch of [7, 9]) {
    it(`gives UEFI x64 (arch ${arch}) the configured EFI loader`, () => {
      expect(selectBoot({ mac, arch, isIpxe: false }, policy)).toMatchObject({ filename: 'ipxe.efi', firmware: 'uefi' });
      expect(selectBoot({ mac, arch, isIpxe: false }, { ...policy, uefiLoader: 'snponly.efi' })?.filename).toBe('snponly.efi');
    });
  }
  it('sends a client already in iPXE to its HTTP script, MAC in lowercase colon form', () => {
    expect(selectBoot({ mac: '52-54-00-AB-CD-EF', arch: 7, isIpxe: true }, policy)).toEqual({
      filename: 'http://198.18.0.1:8080/boot/ipxe/52:54:00:ab:cd:ef',
      via: 'http',
      firmware: 'uefi',
    });
    expect(selectBoot({ mac, arch: 0, isIpxe: true }, policy)?.via).toBe('http');
  });
  it('gives a UEFI HTTP Boot client (arch 16, "HTTPClient") the EFI loader as a URL, flagged for option 60', () => {
    const client = { mac, arch: 16, isIpxe: false, vendorClass: 'HTTPClient:Arch:00016:UNDI:003001' };
    expect(selectBoot(client, policy)).toEqual({ filename: 'http://198.18.0.1:8080/boot/loaders/ipxe.efi', via: 'http', firmware: 'uefi', httpBoot: true });
    expect(selectBoot(client, { ...policy, uefiLoader: 'snponly.efi' })?.filename).toBe('http://198.18.0.1:8080/boot/loaders/snponly.efi');
    // iPXE loaded over HTTP Boot asks again as iPXE: its script, as on the PXE path.
    expect(selectBoot({ ...client, isIpxe: true }, policy)).toEqual({ filename: 'http://198.18.0.1:8080/boot/ipxe/52:54:00:ab:cd:ef', via: 'http', firmware: 'uefi' });
  });
  it('answers neither half of a mismatched HTTP Boot claim: arch 16 without "HTTPClient", or "HTTPClient" with a PXE architecture', () => {
    expect(selectBoot({ mac, arch: 16, isIpxe: false, vendorClass: 'PXEClient:Arch:00016' }, policy)).toBeNull();
    expect(selectBoot({ mac, arch: 16, isIpxe: false }, policy)).toBeNull();
    expect(selectBoot({ mac, arch: 7, isIpxe: false, vendorClass: 'HTTPClient:Arch:00007' }, policy)).toBeNull();
    expect(selectBoot({ mac, arch: undefined, isIpxe: false, vendorClass: 'HTTPClient' }, policy)).toBeNull();
  });
  it('returns null for architectures we have no loader for', () => {
    for (const arch of [1, 2, 6, 10, 11, 15, 19, 0xffff]) expect(selectBoot({ mac, arch, isIpxe: false }, policy)).toBeNull();
    expect(selectBoot({ mac, arch: 19, isIpxe: false, vendorClass: 'HTTPClient:Arch:00019' }, policy)).toBeNull();
    expect(selectBoot({ mac, arch: 11, isIpxe: true }, policy)).toBeNull();
  });
});

describe('firmwareOf', () => {
  it('maps RFC 4578 architectures', () => {
    expect(firmwareOf(0)).toBe('bios');
    expect(firmwareOf(7)).toBe('uefi');
    expect(firmwareOf(9)).toBe('uefi');
    expect(firmwareOf(16)).toBe('uefi');
    expect(firmwareOf(6)).toBeUndefined();
    expect(firmwareOf(undefined)).toBeUndefined();
  });
});
