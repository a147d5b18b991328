/**
 * `imgsrv nodes bmc|power|boot-once` and `imgsrv nodes reimage --now`: a
 * node's BMC and what imgsrv does through it. A BMC password is read from
 * stdin (or asked without echo), never taken as an argument, where `ps`
 * and shell history would keep it.
 */
import { Command, Option } from 'commander';
import { ImgsrvError } from '../../../core/errors.ts';
import { parseMac as mac } from '../../store/nodes.ts';
import { apiFor, type ApiClient } from '../client.ts';
import { printList, printObject } from '../output.ts';
import { promptHidden, readFirstLine } from '../prompt.ts';
import type { BmcView } from '../../power/credentials.ts';
import type { ReimageJob } from '../../power/service.ts';

interface PowerResult {
  mac: string;
  action: string;
  state?: string;
  answer?: string;
  attempts?: number;
  error?: string;
}

/** The password from piped stdin's first line, or asked on a terminal without echo. */
async function passwordFromStdin(): Promise<string> {
  const pw = process.stdin.isTTY ? await promptHidden('BMC password: ') : await readFirstLine();
  if (!pw) throw new ImgsrvError('BAD_USAGE', 'no BMC password on stdin', { hint: 'pipe it as the first line: `imgsrv nodes bmc set MAC … --password-stdin < file`' });
  return pw;
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ImgsrvError('BAD_USAGE', `--port ${v} is not a port`, { hint: 'give 1-65535 (IPMI: 623)' });
  return n;
}

/** Run `each` for every MAC (one at a time: a rack of BMCs answers better than a burst), collecting failures as rows. */
async function forEachMac<T extends { mac: string }>(macs: string[], each: (m: string) => Promise<T>): Promise<Array<T | (PowerResult & { error: string })>> {
  const out: Array<T | (PowerResult & { error: string })> = [];
  for (const m of macs.map((x) => mac(x))) {
    try {
      out.push(await each(m));
    } catch (err) {
      if (!(err instanceof ImgsrvError) || err.code === 'SERVER_UNREACHABLE' || err.code === 'UNAUTHORIZED') throw err;
      out.push({ mac: m, action: '', error: err.message });
    }
  }
  return out;
}

/** The MACs given, or every (unretired) node of `group`; one of the two, never neither. */
export async function targetMacs(api: ApiClient, macs: string[], group: string | undefined): Promise<string[]> {
  if (group === undefined) {
    if (macs.length === 0) throw new ImgsrvError('BAD_USAGE', 'no node named', { hint: 'give one or more MACs, or --group NAME' });
    return macs;
  }
  if (macs.length) throw new ImgsrvError('BAD_USAGE', 'give MACs or --group, not both');
  const members = (await api.request<Array<{ mac: string; group?: string | null }>>('GET', '/api/v1/nodes')).filter((n) => n.group === group).map((n) => n.mac);
  if (!members.length) throw new ImgsrvError('NOT_FOUND', `group ${group} has no nodes`, { hint: 'see `imgsrv nodes ls`' });
  return members;
}

function finish(rows: Array<{ error?: string }>): void {
  const failed = rows.filter((r) => r.error).length;
  if (failed) throw new ImgsrvError('BMC_FAILED', `${failed} of ${rows.length} node(s) failed (see above)`);
}

/** Add `bmc`, `power` and `boot-once` under `imgsrv nodes`. */
export function registerPower(nodes: Command): void {
  const bmc = nodes.command('bmc').description("a node's BMC (IPMI over LAN+): address and login; the password is stored encrypted and never shown");

  bmc
    .command('set <mac>')
    .description("set a node's BMC; without --user, its group's login (`imgsrv groups bmc`) is used")
    .requiredOption('--address <host>', 'BMC host name or IPv4 address')
    .option('--port <n>', 'UDP port (default 623)', parsePort)
    .option('--user <name>', 'BMC user name')
    .option('--password-stdin', 'read the password from stdin (first line), or ask for it on a terminal')
    .option('--json', 'print JSON')
    .action(async (m: string, f: { address: string; port?: number; user?: string; passwordStdin?: boolean; json?: boolean }, cmd: Command) => {
      const body: Record<string, unknown> = { address: f.address };
      if (f.port) body.port = f.port;
      if (f.user) body.user = f.user;
      if (f.passwordStdin) body.password = await passwordFromStdin();
      const v = await apiFor(cmd).request<BmcView>('PUT', `/api/v1/nodes/${mac(m)}/bmc`, body);
      if (f.json) return printObject(v as unknown as Record<string, unknown>, true);
      process.stdout.write(`${mac(m)} BMC ${v.address}${v.port ? `:${v.port}` : ''} user ${v.user ?? '(none)'}, password ${v.passwordSet ? (v.login === 'group' ? "set (its group's)" : 'set') : 'not set'}\n`);
    });

  bmc
    .command('show <mac>')
    .description("show a node's BMC (address, user, whether a password is set)")
    .option('--json', 'print JSON')
    .action(async (m: string, f: { json?: boolean }, cmd: Command) => {
      printObject((await apiFor(cmd).request<BmcView>('GET', `/api/v1/nodes/${mac(m)}/bmc`)) as unknown as Record<string, unknown>, Boolean(f.json));
    });

  bmc
    .command('rm <mac>')
    .description("forget a node's BMC")
    .action(async (m: string, _f: unknown, cmd: Command) => {
      await apiFor(cmd).request('DELETE', `/api/v1/nodes/${mac(m)}/bmc`);
      process.stdout.write(`${mac(m)} BMC removed\n`);
    });

  nodes
    .command('power')
    .description('ask the BMCs of nodes for their power state, or power them on, off (hard), cycle or reset; each answer is logged as an event')
    .addArgument(new Command().createArgument('<action>', 'status, on, off, cycle or reset').choices(['status', 'on', 'off', 'cycle', 'reset']))
    .argument('[mac...]', 'one or more node MACs')
    .option('--group <name>', "every node of a group instead of MACs")
    .option('--json', 'print a JSON array (fields: mac, action, state, answer, attempts, error)')
    .action(async (action: string, macs: string[], f: { json?: boolean; group?: string }, cmd: Command) => {
      const api = apiFor(cmd);
      const rows = await forEachMac(await targetMacs(api, macs, f.group), (m) => api.request<PowerResult>('POST', `/api/v1/nodes/${m}/power`, { action }));
      printList(rows, [['mac', (r) => r.mac], ['state', (r) => r.state], ['answer', (r) => r.error ?? r.answer], ['attempts', (r) => r.attempts]], Boolean(f.json));
      finish(rows);
    });

  nodes
    .command('boot-once')
    .description('boot nodes from the network (pxe) or their disk at their next boot only (through their BMCs)')
    .addArgument(new Command().createArgument('<device>', 'pxe or disk').choices(['pxe', 'disk']))
    .argument('<mac...>', 'one or more node MACs')
    .option('--json', 'print JSON')
    .action(async (device: string, macs: string[], f: { json?: boolean }, cmd: Command) => {
      const api = apiFor(cmd);
      const rows = await forEachMac(macs, (m) => api.request<PowerResult>('POST', `/api/v1/nodes/${m}/boot-once`, { device }));
      printList(rows, [['mac', (r) => r.mac], ['answer', (r) => r.error ?? r.answer]], Boolean(f.json));
      finish(rows);
    });
}

/** `imgsrv groups bmc NAME --user U --password-stdin`: the login a group's nodes share. */
export function registerGroupBmc(groups: Command): void {
  groups
    .command('bmc <name>')
    .description("set the BMC user and password a group's nodes share (each node still needs `nodes bmc set MAC --address A`)")
    .requiredOption('--user <name>', 'BMC user name')
    .addOption(new Option('--password-stdin', 'read the password from stdin (first line), or ask for it on a terminal').makeOptionMandatory())
    .action(async (name: string, f: { user: string }, cmd: Command) => {
      await apiFor(cmd).request('PUT', `/api/v1/groups/${encodeURIComponent(name)}/bmc`, { user: f.user, password: await passwordFromStdin() });
      process.stdout.write(`group ${name}: BMC user ${f.user}, password set\n`);
    });
}

/**
 * `nodes reimage MAC… --now`: start a re-image-now on each node, then follow
 * the jobs until each network-booted or failed; exit 1 if any failed.
 */
export async function reimageNow(api: ApiClient, macs: string[], opts: { timeoutSeconds: number; image?: string | null | undefined; json: boolean; pollMs?: number }): Promise<void> {
  /** One line of the result per node: its job, or why it never started. */
  type Row = { mac: string; state: ReimageJob['state']; attempt: number; message: string; error?: string };
  const rows = new Map<string, Row>();
  const body = { timeoutSeconds: opts.timeoutSeconds, ...(opts.image !== undefined ? { image: opts.image } : {}) };
  for (const r of await forEachMac(macs, (m) => api.request<ReimageJob>('POST', `/api/v1/nodes/${m}/reimage-now`, body))) {
    const row: Row = 'error' in r && r.error ? { mac: r.mac, state: 'failed', attempt: 0, message: r.error, error: r.error } : toRow(r as ReimageJob);
    if (!opts.json && row.state === 'running') process.stderr.write(`${row.mac} ${row.message}\n`);
    rows.set(r.mac, row);
  }
  while ([...rows.values()].some((r) => r.state === 'running')) {
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 2000));
    for (const [m, before] of rows) {
      if (before.state !== 'running') continue;
      const now = toRow(await api.request<ReimageJob>('GET', `/api/v1/nodes/${m}/reimage-now`));
      if (!opts.json && now.message !== before.message) process.stderr.write(`${m} ${now.message}\n`);
      rows.set(m, now);
    }
  }
  const out = [...rows.values()];
  printList(out, [['mac', (r) => r.mac], ['state', (r) => r.state], ['power sequences', (r) => r.attempt], ['result', (r) => r.message]], opts.json);
  finish(out);
}

function toRow(j: ReimageJob): { mac: string; state: ReimageJob['state']; attempt: number; message: string; error?: string } {
  return { mac: j.mac, state: j.state, attempt: j.attempt, message: j.message, ...(j.state === 'failed' ? { error: j.message } : {}) };
}
