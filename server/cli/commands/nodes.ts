/** `imgsrv nodes ls|show|assign|rm`: the node inventory. */
import type { Command } from 'commander';
import { ImgsrvError } from '../../errors.ts';
import { normalizeMac, type NodeRecord } from '../../store/nodes.ts';
import { apiFor } from '../client.ts';
import { ago, humanBytes, printList, printObject } from '../output.ts';
import type { NodeSwarmReport } from '../../swarm/service.ts';

type NodeRow = NodeRecord & { swarm?: NodeSwarmReport };


function mac(raw: string): string {
  const m = normalizeMac(raw);
  if (!m) throw new ImgsrvError('BAD_USAGE', `"${raw}" is not a MAC address`, { hint: 'use the form aa:bb:cc:dd:ee:ff' });
  return m;
}

export function registerNodes(program: Command): void {
  const nodes = program.command('nodes').description('the node inventory: every machine that network-booted');

  nodes
    .command('ls')
    .description('list nodes')
    .option('--json', 'print a JSON array (fields: mac, ip, firmware, hostname, phase, …)')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await apiFor(cmd).request<NodeRow[]>('GET', '/api/v1/nodes');
      printList(
        list,
        [
          ['mac', (n) => n.mac],
          ['ip', (n) => n.ip],
          ['firmware', (n) => n.firmware],
          ['hostname', (n) => n.hostname],
          ['phase', (n) => n.phase],
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
      const node = await apiFor(cmd).request<NodeRecord>('GET', `/api/v1/nodes/${mac(m)}`);
      printObject(node as unknown as Record<string, unknown>, Boolean(flags.json));
    });

  nodes
    .command('assign <mac> <hostname>')
    .description('pre-assign a hostname (the node then skips the hostname prompt); "-" clears it')
    .action(async (m: string, hostname: string, _flags: unknown, cmd: Command) => {
      const node = await apiFor(cmd).request<NodeRecord>('PUT', `/api/v1/nodes/${mac(m)}`, { hostname: hostname === '-' ? null : hostname });
      process.stdout.write(`${node.mac} ${node.hostname ?? '(no hostname)'}\n`);
    });

  nodes
    .command('reimage <mac>')
    .description('install the node again at its next network boot (also the retry after a failed restore)')
    .option('--image <ref>', 'pin the node to NAME or NAME@VERSION ("-" = back to the default image)')
    .action(async (m: string, flags: { image?: string }, cmd: Command) => {
      const body = flags.image === undefined ? {} : { image: flags.image === '-' ? null : flags.image };
      const node = await apiFor(cmd).request<NodeRecord>('POST', `/api/v1/nodes/${mac(m)}/reimage`, body);
      process.stdout.write(`${node.mac} will be re-imaged with ${node.image ?? 'the default image'} at its next network boot\n`);
    });

  nodes
    .command('rm <mac>')
    .description('remove a node from the inventory')
    .action(async (m: string, _flags: unknown, cmd: Command) => {
      await apiFor(cmd).request('DELETE', `/api/v1/nodes/${mac(m)}`);
      process.stdout.write(`removed ${mac(m)}\n`);
    });
}
