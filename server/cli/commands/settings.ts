/** `imgsrv settings show|set|reserve|unreserve`: live server settings (DHCP, boot mode, node defaults). */
import { isIPv4 } from 'node:net';
import type { Command } from 'commander';
import { ImgsrvError } from '../../../core/errors.ts';
import { parseMac } from '../../store/nodes.ts';
import { apiFor } from '../client.ts';
import { printList, printObject } from '../output.ts';
import type { Reservation } from '../../../netboot/dhcp/leases.ts';
import type { LiveSettings as SettingsView, LiveSettingsPatch as SettingsPatch } from '../../live-settings.ts';

/** The keys `settings set` takes; `values` limits the choices, `clearable` lets "-" mean null. */
export const SETTING_KEYS: Record<string, { values?: readonly string[]; clearable?: boolean }> = {
  'dhcp.mode': { values: ['full', 'proxy', 'off'] },
  'dhcp.range': { clearable: true },
  'boot.mode': { values: ['http', 'tftp'] },
  'nodes.hostnamePattern': {},
  'nodes.defaultGroup': { clearable: true },
};

/** Turn KEY=VALUE arguments into the nested partial body; BAD_USAGE names the bad argument. */
export function parseAssignments(args: readonly string[]): SettingsPatch {
  if (args.length === 0) throw new ImgsrvError('BAD_USAGE', 'nothing to set', { hint: `give KEY=VALUE, KEY one of ${Object.keys(SETTING_KEYS).join(', ')}` });
  const body: Record<string, Record<string, unknown>> = {};
  const seen = new Set<string>();
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new ImgsrvError('BAD_USAGE', `"${arg}" is not KEY=VALUE`, { hint: `e.g. dhcp.mode=proxy; keys: ${Object.keys(SETTING_KEYS).join(', ')}` });
    const key = arg.slice(0, eq);
    const raw = arg.slice(eq + 1);
    const spec = SETTING_KEYS[key];
    if (!spec) throw new ImgsrvError('BAD_USAGE', `unknown setting "${key}"`, { hint: `valid keys: ${Object.keys(SETTING_KEYS).join(', ')}` });
    if (seen.has(key)) throw new ImgsrvError('BAD_USAGE', `${key} is given twice`, { hint: 'give each key once' });
    seen.add(key);
    let value: string | null = raw;
    if (raw === '-') {
      if (!spec.clearable) throw new ImgsrvError('BAD_USAGE', `${key} cannot be cleared ("-")`, { hint: spec.values ? `give one of ${spec.values.join(', ')}` : 'give a value' });
      value = null;
    } else if (raw === '') {
      throw new ImgsrvError('BAD_USAGE', `${key} has no value`, { hint: spec.clearable ? 'give a value, or "-" to clear it' : 'give a value' });
    } else if (spec.values && !spec.values.includes(raw)) {
      throw new ImgsrvError('BAD_USAGE', `${key}: "${raw}" is not one of ${spec.values.join(', ')}`);
    }
    const [section, field] = key.split('.') as [string, string];
    (body[section] ??= {})[field] = value;
  }
  return body as SettingsPatch;
}

const sameMac = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** The reservations with `r` added, replacing any earlier one for the same MAC; an address held by another MAC is a CONFLICT. */
export function withReservation(list: readonly Reservation[], r: Reservation): Reservation[] {
  const other = list.find((x) => x.ip === r.ip && !sameMac(x.mac, r.mac));
  if (other) throw new ImgsrvError('CONFLICT', `${r.ip} is already reserved for ${other.mac}`, { hint: `free it first: imgsrv settings unreserve ${other.mac}` });
  return [...list.filter((x) => !sameMac(x.mac, r.mac)), r];
}

/** The reservations without `mac`'s; NOT_FOUND when it has none. */
export function withoutReservation(list: readonly Reservation[], mac: string): Reservation[] {
  if (!list.some((x) => sameMac(x.mac, mac))) throw new ImgsrvError('NOT_FOUND', `${mac} has no reservation`, { hint: 'see `imgsrv settings show`' });
  return list.filter((x) => !sameMac(x.mac, mac));
}

function print(s: SettingsView, json: boolean): void {
  if (json) return void process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
  printObject(
    {
      'dhcp.mode': s.dhcp.mode,
      'dhcp.range': s.dhcp.range ?? '(none)',
      'boot.mode': s.boot.mode,
      'nodes.hostnamePattern': s.nodes.hostnamePattern,
      'nodes.defaultGroup': s.nodes.defaultGroup ?? '(none)',
      'dhcp.reservations': s.dhcp.reservations.length,
    },
    false,
  );
  if (s.dhcp.reservations.length) {
    printList(s.dhcp.reservations, [['mac', (r) => r.mac], ['ip', (r) => r.ip], ['hostname', (r) => r.hostname]], false);
  }
}

export function registerSettings(program: Command): void {
  const settings = program.command('settings').description('live server settings: DHCP mode, range and reservations, boot mode, node defaults');

  settings
    .command('show', { isDefault: true })
    .description('show the settings in force')
    .option('--json', 'print JSON (dhcp: {mode, range, reservations}, boot: {mode}, nodes: {hostnamePattern, defaultGroup})')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      print(await apiFor(cmd).request<SettingsView>('GET', '/api/v1/settings'), Boolean(flags.json));
    });

  settings
    .command('set <assignments...>')
    .description(`change settings, applied at once: KEY=VALUE with KEY one of ${Object.keys(SETTING_KEYS).join(', ')} ("-" clears dhcp.range and nodes.defaultGroup)`)
    .option('--json', 'print the new settings as JSON')
    .action(async (assignments: string[], flags: { json?: boolean }, cmd: Command) => {
      const body = parseAssignments(assignments);
      print(await apiFor(cmd).request<SettingsView>('PUT', '/api/v1/settings', body), Boolean(flags.json));
    });

  settings
    .command('reserve <mac> <ip> [hostname]')
    .description('always give the node with MAC the address IP (and HOSTNAME)')
    .action(async (rawMac: string, ip: string, hostname: string | undefined, _flags: unknown, cmd: Command) => {
      const mac = parseMac(rawMac);
      if (!isIPv4(ip)) throw new ImgsrvError('BAD_USAGE', `"${ip}" is not an IPv4 address`);
      const api = apiFor(cmd);
      const current = await api.request<SettingsView>('GET', '/api/v1/settings');
      const reservations = withReservation(current.dhcp.reservations, { mac, ip, ...(hostname ? { hostname } : {}) });
      await api.request<SettingsView>('PUT', '/api/v1/settings', { dhcp: { reservations } });
      process.stdout.write(`${mac} reserved ${ip}${hostname ? ` (${hostname})` : ''}\n`);
    });

  settings
    .command('unreserve <mac>')
    .description("drop the node's DHCP reservation")
    .action(async (rawMac: string, _flags: unknown, cmd: Command) => {
      const mac = parseMac(rawMac);
      const api = apiFor(cmd);
      const current = await api.request<SettingsView>('GET', '/api/v1/settings');
      await api.request<SettingsView>('PUT', '/api/v1/settings', { dhcp: { reservations: withoutReservation(current.dhcp.reservations, mac) } });
      process.stdout.write(`${mac} has no reservation now\n`);
    });
}
