/**
 * Golden fixtures: DHCP packets captured from real clients (see
 * testdata/capture.lab.ts) decode to the readable expected files beside them.
 * `UPDATE_TESTDATA=1` rewrites the expected files from the current decoder.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { selectBoot } from '../boot/select.ts';
import { decode, encode } from './codec.ts';
import { bootClientOf, isPxeClient } from './handler.ts';
import { readableJson } from './testdata/readable.ts';

const dir = new URL('./testdata/', import.meta.url);
const names = readdirSync(dir).filter((f) => f.endsWith('.hex')).map((f) => f.slice(0, -4)).sort();
const load = (name: string): Buffer => Buffer.from(readFileSync(new URL(`${name}.hex`, dir), 'utf8').replace(/\s+/g, ''), 'hex');

describe('golden fixtures from real clients', () => {
  it('has captures from firmware and OS clients', () => {
    for (const c of ['udhcpc', 'dhclient', 'seabios-ipxe', 'ovmf-ipxe', 'ovmf']) {
      expect(names).toContain(`${c}-discover`);
      expect(names).toContain(`${c}-request`);
    }
  });

  for (const name of names) {
    it(`${name} decodes to ${name}.json and survives re-encoding`, () => {
      const msg = decode(load(name));
      const json = readableJson(msg);
      const expectedUrl = new URL(`${name}.json`, dir);
      if (process.env.UPDATE_TESTDATA === '1') writeFileSync(expectedUrl, json);
      expect(json).toBe(readFileSync(expectedUrl, 'utf8'));
      expect(decode(encode(msg))).toEqual(msg);
    });
  }

  const policy = { httpBase: 'http://198.18.0.1:8080', tftpServer: '198.18.0.1', biosLoader: 'ipxe', uefiLoader: 'ipxe.efi' } as const;
  it('tells firmware apart: SeaBIOS iPXE, OVMF EDK2, OVMF iPXE, and OS clients', () => {
    const seabios = decode(load('seabios-ipxe-discover'));
    expect(isPxeClient(seabios)).toBe(true);
    expect(bootClientOf(seabios)).toMatchObject({ arch: 0, isIpxe: true });
    expect(selectBoot(bootClientOf(seabios), policy)?.filename).toBe('http://198.18.0.1:8080/boot/ipxe/52:54:00:0c:00:03');
    const edk2 = decode(load('ovmf-discover'));
    expect(isPxeClient(edk2)).toBe(true);
    expect(bootClientOf(edk2)).toMatchObject({ arch: 7, isIpxe: false });
    expect(selectBoot(bootClientOf(edk2), policy)?.filename).toBe('ipxe.efi');
    expect(bootClientOf(decode(load('ovmf-ipxe-discover')))).toMatchObject({ arch: 7, isIpxe: true });
    for (const os of ['udhcpc-discover', 'dhclient-discover']) expect(isPxeClient(decode(load(os)))).toBe(false);
  });
});
