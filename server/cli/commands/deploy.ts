/** `imgsrv deploy show|set|clear`: the image blank nodes receive and the partitions kept on re-image. */
import type { Command } from 'commander';
import { apiFor } from '../client.ts';
import { printObject } from '../output.ts';

interface DeployView {
  image: string | null;
  resolved: { name: string; version: number } | null;
  problem: string | null;
  keep: string[];
  nodes: Record<string, number>;
}

function print(v: DeployView, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
    return;
  }
  printObject(
    {
      image: v.image ?? '(none: blank nodes wait)',
      deploys: v.resolved ? `${v.resolved.name}@${v.resolved.version}` : (v.problem ?? '-'),
      keep: v.keep.length ? v.keep.join(', ') : '(nothing)',
      nodes: Object.entries(v.nodes)
        .map(([k, n]) => `${n} ${k}`)
        .join(', '),
    },
    false,
  );
}

export function registerDeploy(program: Command): void {
  const deploy = program.command('deploy').description('what blank nodes receive when they network-boot');

  deploy
    .command('show', { isDefault: true })
    .description('show the image blank nodes get and the install state of the nodes')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      print(await apiFor(cmd).request<DeployView>('GET', '/api/v1/deploy'), Boolean(flags.json));
    });

  deploy
    .command('set <image>')
    .description('blank nodes get IMAGE (NAME = always its latest version, NAME@VERSION = that one)')
    .option('--keep <mountpoints>', 'comma-separated mount points kept on re-image when the disk layout matches, e.g. /data,/var/lib/mysql ("" = none)')
    .option('--json', 'print JSON')
    .action(async (image: string, flags: { keep?: string; json?: boolean }, cmd: Command) => {
      const keep = flags.keep === undefined ? undefined : flags.keep.split(',').map((k) => k.trim()).filter(Boolean);
      print(await apiFor(cmd).request<DeployView>('PUT', '/api/v1/deploy', { image, ...(keep ? { keep } : {}) }), Boolean(flags.json));
    });

  deploy
    .command('clear')
    .description('blank nodes get nothing (they wait at their console until an image is set)')
    .action(async (_flags: unknown, cmd: Command) => {
      print(await apiFor(cmd).request<DeployView>('PUT', '/api/v1/deploy', { image: null }), false);
    });
}
