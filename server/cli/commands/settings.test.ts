import { describe, expect, it } from 'vitest';
import { errorOf } from '../../../core/testdata/errors.ts';
import { parseAssignments, withReservation, withoutReservation } from './settings.ts';

/** The ImgsrvError `fn` throws, checked for its code. */
function expectImgsrvError(fn: () => unknown, code: string) {
  const err = errorOf(fn);
  expect(err.code).toBe(code);
  return err;
}

describe('settings set KEY=VALUE', () => {
  it('builds the nested partial body, one section per key prefix', () => {
    expect(parseAssignments(['dhcp.mode=proxy', 'dhcp.range=198.18.0.100-198.18.0.200', 'boot.mode=tftp', 'nodes.hostnamePattern=web{n}'])).toEqual({
      dhcp: { mode: 'proxy', range: '198.18.0.100-198.18.0.200' },
      boot: { mode: 'tftp' },
      nodes: { hostnamePattern: 'web{n}' },
    });
  });

  it('"-" clears the clearable keys to null', () => {
    expect(parseAssignments(['nodes.defaultGroup=-', 'dhcp.range=-'])).toEqual({ nodes: { defaultGroup: null }, dhcp: { range: null } });
    expect(parseAssignments(['nodes.defaultGroup=web'])).toEqual({ nodes: { defaultGroup: 'web' } });
  });

  it('keeps "=" inside the value', () => {
    expect(parseAssignments(['nodes.hostnamePattern=a=b'])).toEqual({ nodes: { hostnamePattern: 'a=b' } });
  });

  it('a bad key names it and lists the valid ones', () => {
    const err = expectImgsrvError(() => parseAssignments(['dhcp.mod=proxy']), 'BAD_USAGE');
    expect(err.oneLine()).toBe('unknown setting "dhcp.mod": valid keys: dhcp.mode, dhcp.range, boot.mode, nodes.hostnamePattern, nodes.defaultGroup');
    expect(err.exitCode).toBe(2);
  });

  it.each([
    [[], /nothing to set/],
    [['dhcp.mode'], /"dhcp.mode" is not KEY=VALUE/],
    [['=x'], /"=x" is not KEY=VALUE/],
    [['dhcp.mode=maybe'], /dhcp.mode: "maybe" is not one of full, proxy, off/],
    [['boot.mode=-'], /boot.mode cannot be cleared/],
    [['nodes.hostnamePattern='], /nodes.hostnamePattern has no value/],
    [['dhcp.mode=full', 'dhcp.mode=off'], /dhcp.mode is given twice/],
  ])('refuses %j', (args, message) => {
    expect(expectImgsrvError(() => parseAssignments(args), 'BAD_USAGE').message).toMatch(message);
  });
});

describe('reservations', () => {
  const list = [{ mac: 'aa:bb:cc:dd:ee:01', ip: '198.18.0.11' }];

  it('adds one, replacing the MAC\'s earlier reservation', () => {
    expect(withReservation(list, { mac: 'aa:bb:cc:dd:ee:02', ip: '198.18.0.12', hostname: 'db1' })).toEqual([...list, { mac: 'aa:bb:cc:dd:ee:02', ip: '198.18.0.12', hostname: 'db1' }]);
    expect(withReservation(list, { mac: 'aa:bb:cc:dd:ee:01', ip: '198.18.0.13' })).toEqual([{ mac: 'aa:bb:cc:dd:ee:01', ip: '198.18.0.13' }]);
  });

  it('refuses an address another MAC holds', () => {
    expect(expectImgsrvError(() => withReservation(list, { mac: 'aa:bb:cc:dd:ee:02', ip: '198.18.0.11' }), 'CONFLICT').oneLine()).toMatch(/198.18.0.11 is already reserved for aa:bb:cc:dd:ee:01: free it first/);
  });

  it('removes one; an unknown MAC is NOT_FOUND', () => {
    expect(withoutReservation(list, 'aa:bb:cc:dd:ee:01')).toEqual([]);
    expectImgsrvError(() => withoutReservation(list, 'aa:bb:cc:dd:ee:09'), 'NOT_FOUND');
  });
});
