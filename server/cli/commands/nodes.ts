/** `imgsrv nodes ls|show|set|assign|reimage|retire|rm|bulk` (and bmc|power|boot-once, in power.ts): the node inventory. */
import type { Command } from 'commander';
import { ImgsrvError } from '../../../core/errors.ts';
import type { NodeRecord } from '../../store/nodes.ts';
import { clearable } from '../args.ts';
import { readAll } from '../prompt.ts';
import { parseMac as mac } from '../../store/nodes.ts';
import { apiFor, type ApiClient } from '../client.ts';
import { ago, humanBytes, printList, printObject } from '../output.ts';
import type { NodeSwarmReport } from '../../swarm/service.ts';
import type { NodeLagReport } from '../../../contract/report.ts';
import { reimageNow, registerPower, targetMacs } from './power.ts';
import type { BmcView } from '../../power/credentials.ts';

/** A node as the API shows it (NodeView): the record plus group, retirement and live swarm state. */
type NodeRow = NodeRecord & { swarm?: NodeSwarmReport; group?: string | null; retired?: { at: number; wipe: boolean } | null };

/** The body of PUT /nodes/:mac from `nodes set` flags: only the fields given, "-" = null. */
export function nodePatch(flags: { hostname?: string; group?: string; image?: string; disk?: string; address?: string; gateway?: string; dns?: string }): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const k of ['hostname', 'group', 'image'] as const) if (flags[k] !== undefined) body[k] = clearable(flags[k]);
  if (flags.disk !== undefined) body.targetDisk = clearable(flags.disk);
  if (flags.address !== undefined) {
    body.network =
      flags.address === '-' ? null : { address: flags.address, ...(flags.gateway ? { gateway: flags.gateway } : {}), ...(flags.dns ? { dns: flags.dns.split(',').filter(Boolean) } : {}) };
  } else if (flags.gateway !== undefined || flags.dns !== undefined) {
    throw new ImgsrvError('BAD_USAGE', '--gateway and --dns go with --address', { hint: 'give the whole address: --address 10.0.0.21/24 --gateway 10.0.0.1' });
  }
  if (Object.keys(body).length === 0) throw new ImgsrvError('BAD_USAGE', 'nothing to set', { hint: 'give --hostname, --group, --image, --disk or --address ("-" clears one)' });
  return body;
}

/** The body of POST /nodes/bulk (without the MACs) from `nodes bulk ACTION` and its flags. */
export function bulkBody(action: string, flags: { group?: string; image?: string; wipe?: boolean }): Record<string, unknown> {
  const extra = (allowed: string[]) => {
    const given = (['group', 'image', 'wipe'] as const).filter((k) => flags[k] !== undefined && !allowed.includes(k));
    if (given.length) throw new ImgsrvError('BAD_USAGE', `${action} takes no --${given.join(', --')}`, { hint: 'group takes --group; image and reimage --image; retire --wipe' });
  };
  switch (action) {
    case 'group':
      extra(['group']);
      if (flags.group === undefined) throw new ImgsrvError('BAD_USAGE', 'group needs --group NAME ("-" = none)', { hint: 'imgsrv nodes bulk group --group rack1 MAC…' });
      return { action, group: clearable(flags.group) };
    case 'image':
      extra(['image']);
      if (flags.image === undefined) throw new ImgsrvError('BAD_USAGE', 'image needs --image REF ("-" = the default image)', { hint: 'imgsrv nodes bulk image --image web@2 MAC…' });
      return { action, image: clearable(flags.image) };
    case 'reimage':
      extra(['image']);
      return { action, ...(flags.image === undefined ? {} : { image: clearable(flags.image) }) };
    case 'retire':
      extra(['wipe']);
      return { action, wipe: Boolean(flags.wipe) };
    default:
      throw new ImgsrvError('BAD_USAGE', `unknown bulk action ${action}`, { hint: 'one of group, image, reimage, retire' });
  }
}

/** How far a node's restore trailed its download, in one line for people. */
export function formatLag(l: NodeLagReport): string {
  const peak = `largest backlog ${humanBytes(l.maxBacklog)}`;
  if (l.seconds !== null) {
    return `restore ended ${l.seconds.toFixed(1)} s after the download (${humanBytes(l.atDownloadEnd ?? 0)} left to restore when it ended; ${peak})`;
  }
  if (l.atDownloadEnd !== null) return `download ended with ${humanBytes(l.atDownloadEnd)} left to restore, ${humanBytes(l.backlog)} now (${peak})`;
  return `restore ${humanBytes(l.backlog)} behind the download (${peak})`;
}

/** Nodes per request of `nodes ls`: each answer stays small however many nodes there are. */
const PAGE = 1000;

/** The whole inventory, a page at a time (GET /nodes?limit=&after=, in MAC order). */
async function listNodes(api: ApiClient, all: boolean): Promise<NodeRow[]> {
  const out: NodeRow[] = [];
  for (let after: string | undefined; ; ) {
    const page = await api.request<NodeRow[]>('GET', `/api/v1/nodes?limit=${PAGE}${all ? '&all=true' : ''}${after ? `&after=${after}` : ''}`);
    out.push(...page);
    if (page.length < PAGE) return out;
    after = page.at(-1)!.mac;
  }
}

export function registerNodes(program: Command): void {
  const nodes = program.command('nodes').description('the node inventory: every machine that network-booted');

  nodes
    .command('ls')
    .description('list nodes')
    .option('--all', 'include retired nodes')
    .option('--json', 'print a JSON array (fields: mac, ip, firmware, hostname, phase, group, …)')
    .action(async (flags: { json?: boolean; all?: boolean }, cmd: Command) => {
      const list = await listNodes(apiFor(cmd), Boolean(flags.all));
      printList(
        list,
        [
          ['mac', (n) => n.mac],
          ['ip', (n) => n.ip],
          ['firmware', (n) => n.firmware],
          ['hostname', (n) => n.hostname],
          ['phase', (n) => n.phase],
          ['group', (n) => n.group],
          ['install', (n) => (n.installedImage ? `${n.install} ${n.installedImage}` : n.install)],
          ['image', (n) => (n.swarm ? `${Math.floor(n.swarm.progress * 100)}%` : undefined)],
          ['down', (n) => (n.swarm ? `${humanBytes(n.swarm.downloaded)} ${humanBytes(n.swarm.downloadSpeed)}/s` : undefined)],
          ['up', (n) => (n.swarm ? humanBytes(n.swarm.uploaded) : undefined)],
          ['peers', (n) => n.swarm?.peers],
          ['last seen', (n) => ago(n.lastSeen)],
        ],
        Boolean(flags.json),
      );
    });

  nodes
    .command('show <mac>')
    .description('show one node')
    .option('--json', 'print JSON')
    .action(async (m: string, flags: { json?: boolean }, cmd: Command) => {
      const api = apiFor(cmd);
      const node = await api.request<NodeRecord & { lag?: NodeLagReport }>('GET', `/api/v1/nodes/${mac(m)}`);
      // Its BMC as the API shows it (address, user, whether a password is set), when it has one.
      const bmc = await api.request<BmcView>('GET', `/api/v1/nodes/${mac(m)}/bmc`).catch((err: unknown) => {
        if (err instanceof ImgsrvError && err.code === 'NOT_FOUND') return undefined;
        throw err;
      });
      const withBmc = bmc ? { ...node, bmc: flags.json ? bmc : `${bmc.address}${bmc.port ? `:${bmc.port}` : ''} user ${bmc.user ?? '(none)'}, password ${bmc.passwordSet ? 'set' : 'not set'}` } : node;
      const shown = (flags.json || !node.lag ? withBmc : { ...withBmc, lag: formatLag(node.lag) }) as unknown as Record<string, unknown>;
      printObject(shown, Boolean(flags.json));
    });

  nodes
    .command('set <mac>')
    .description('change a node: only the options given change; "-" clears one (no hostname: asked at boot; no group; no image: the group\'s or the deploy image)')
    .option('--hostname <name>', 'pre-assigned hostname (the node then skips the hostname prompt)')
    .option('--group <name>', 'configuration group the node belongs to')
    .option('--image <ref>', 'pin the node to NAME or NAME@VERSION')
    .option('--address <cidr>', "the node's own static address, e.g. 10.0.0.21/24, written into its restored system (\"-\": DHCP)")
    .option('--gateway <ip>', 'with --address: the default gateway')
    .option('--dns <ip,…>', 'with --address: name servers')
    .option('--disk <hint>', 'the disk to restore onto: serial=…, wwn=…, model=…, size=…, path=…, rotational=0|1, name=… (comma-separated, all must match), or a name/serial/WWN')
    .option('--json', 'print JSON')
    .action(async (m: string, flags: { hostname?: string; group?: string; image?: string; disk?: string; address?: string; gateway?: string; dns?: string; json?: boolean }, cmd: Command) => {
      const path = `/api/v1/nodes/${mac(m)}`;
      const node = await apiFor(cmd).request<NodeRow>('PUT', path, nodePatch(flags));
      if (flags.json) return void process.stdout.write(`${JSON.stringify(node, null, 2)}\n`);
      process.stdout.write(`${node.mac} hostname ${node.hostname ?? '(asked at boot)'}, group ${node.group ?? '(none)'}, image ${node.image ?? '(group or default)'}, disk ${node.targetDisk ?? '(group or default)'}\n`);
    });

  nodes
    .command('retire <mac>')
    .description('retire a node: it leaves the inventory listing and is no longer installed')
    .option('--wipe', 'erase its disk at its next network boot, then power it off')
    .action(async (m: string, flags: { wipe?: boolean }, cmd: Command) => {
      const node = await apiFor(cmd).request<NodeRow>('POST', `/api/v1/nodes/${mac(m)}/retire`, { wipe: Boolean(flags.wipe) });
      process.stdout.write(
        flags.wipe
          ? `${node.mac} retired; its disk will be wiped at its next network boot, then it powers off\n`
          : `${node.mac} retired (see it with \`imgsrv nodes ls --all\`)\n`,
      );
    });

  nodes
    .command('assign <mac> <hostname>')
    .description('pre-assign a hostname (the node then skips the hostname prompt); "-" clears it')
    .action(async (m: string, hostname: string, _flags: unknown, cmd: Command) => {
      const node = await apiFor(cmd).request<NodeRecord>('PUT', `/api/v1/nodes/${mac(m)}`, { hostname: hostname === '-' ? null : hostname });
      process.stdout.write(`${node.mac} ${node.hostname ?? '(no hostname)'}\n`);
    });

  nodes
    .command('reimage [mac...]')
    .description('install nodes again at their next network boot (also the retry after a failed restore); --now: power them into it through their BMCs')
    .option('--image <ref>', 'pin the nodes to NAME or NAME@VERSION ("-" = back to the default image)')
    .option('--now', 'through each BMC: power off, boot from the network once, power on, and wait for the netboot environment to report (a second power sequence if it does not)')
    .option('--timeout <seconds>', 'with --now: how long each power sequence waits for the report (default 600)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 10 || n > 7200) throw new ImgsrvError('BAD_USAGE', `--timeout ${v} is not 10-7200 seconds`);
      return n;
    })
    .option('--group <name>', 'every node of a group instead of MACs')
    .option('--json', 'with --now: print a JSON array (fields: mac, state, attempt, message)')
    .action(async (given: string[], flags: { image?: string; now?: boolean; timeout?: number; json?: boolean; group?: string }, cmd: Command) => {
      const macs = await targetMacs(apiFor(cmd), given, flags.group);
      const image = flags.image === undefined ? undefined : flags.image === '-' ? null : flags.image;
      if (flags.now) return reimageNow(apiFor(cmd), macs, { timeoutSeconds: flags.timeout ?? 600, image, json: Boolean(flags.json) });
      if (flags.timeout !== undefined) throw new ImgsrvError('BAD_USAGE', '--timeout goes with --now', { hint: 'add --now to power the nodes into the re-image' });
      const body = image === undefined ? {} : { image };
      for (const m of macs) {
        const node = await apiFor(cmd).request<NodeRecord>('POST', `/api/v1/nodes/${mac(m)}/reimage`, body);
        process.stdout.write(`${node.mac} will be re-imaged with ${node.image ?? 'the default image'} at its next network boot\n`);
      }
    });

  nodes
    .command('bulk <action> [macs...]')
    .description('one action on many nodes, all or nothing: group (--group), image (--image), reimage [--image], retire [--wipe]; MACs as arguments, or "-" to read them from stdin (one per line or whitespace-separated)')
    .option('--group <name>', 'group: the group to put them in ("-" = none)')
    .option('--image <ref>', 'image, reimage: NAME or NAME@VERSION ("-" = the default image)')
    .option('--wipe', 'retire: erase their disks at their next network boot')
    .action(async (action: string, args: string[], flags: { group?: string; image?: string; wipe?: boolean }, cmd: Command) => {
      const body = bulkBody(action, flags);
      const macs = args.length === 1 && args[0] === '-' ? (await readAll()).split(/\s+/).filter(Boolean) : args;
      if (!macs.length) throw new ImgsrvError('BAD_USAGE', 'no MACs given', { hint: 'name them, or pipe them: imgsrv nodes ls --json | jq -r \'.[].mac\' | imgsrv nodes bulk reimage -' });
      const r = await apiFor(cmd).request<{ action: string; nodes: number }>('POST', '/api/v1/nodes/bulk', { ...body, macs: macs.map(mac) });
      process.stdout.write(`${r.action}: ${r.nodes} node${r.nodes === 1 ? '' : 's'} changed\n`);
    });

  nodes
    .command('rm <mac>')
    .description('forget a node entirely (retire keeps its record)')
    .action(async (m: string, _flags: unknown, cmd: Command) => {
      await apiFor(cmd).request('DELETE', `/api/v1/nodes/${mac(m)}`);
      process.stdout.write(`removed ${mac(m)}\n`);
    });

  registerPower(nodes);
}
