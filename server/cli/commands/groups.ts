/** `imgsrv groups ls|show|set|rm`: configuration groups (image, hostname pattern, kept partitions, boot settings per group). */
import { registerGroupBmc } from './power.ts';
import type { Command } from 'commander';
import { ImgsrvError } from '../../../core/errors.ts';
import { clearable, clearableList } from '../args.ts';
import { apiFor } from '../client.ts';
import { GROUP_PATTERN } from '../../api/routes/patterns.ts';
import { printList, printObject } from '../output.ts';

import type { GroupPatch, GroupRecord as GroupView } from '../../store/groups.ts';

/** Flags of `groups set` as commander hands them over (`kernelArgs` false = --no-kernel-args). */
export interface GroupSetFlags {
  image?: string;
  hostnamePattern?: string;
  keep?: string;
  kernelArg?: string[];
  kernelArgs?: boolean;
  targetDisk?: string;
  promptTimeout?: string;
}

/** The server's group name rule, checked before any request. */
export const GROUP_NAME = new RegExp(GROUP_PATTERN);

/** A valid group name, or BAD_USAGE. */
export function groupName(raw: string): string {
  if (!GROUP_NAME.test(raw)) {
    throw new ImgsrvError('BAD_USAGE', `"${raw}" is not a group name`, { hint: 'use lower-case letters, digits, ".", "_" and "-" (at most 63, starting with a letter or digit)' });
  }
  return raw;
}

/** Build the PUT body from the flags: only the fields given, "-" = null (inherit the global setting). */
export function groupPatch(flags: GroupSetFlags): GroupPatch {
  const body: GroupPatch = {};
  if (flags.image !== undefined) body.image = clearable(flags.image);
  if (flags.hostnamePattern !== undefined) body.hostnamePattern = clearable(flags.hostnamePattern);
  if (flags.keep !== undefined) body.keep = clearableList(flags.keep);
  if (flags.kernelArg !== undefined && flags.kernelArgs === false) {
    throw new ImgsrvError('BAD_USAGE', '--kernel-arg and --no-kernel-args contradict each other', { hint: 'give one of them' });
  }
  if (flags.kernelArg !== undefined) body.kernelArgs = flags.kernelArg;
  if (flags.kernelArgs === false) body.kernelArgs = [];
  if (flags.targetDisk !== undefined) body.targetDisk = clearable(flags.targetDisk);
  if (flags.promptTimeout !== undefined) {
    const raw = flags.promptTimeout;
    if (raw === '-') body.promptTimeout = null;
    else if (/^\d+$/.test(raw)) body.promptTimeout = Number(raw);
    else throw new ImgsrvError('BAD_USAGE', `--prompt-timeout "${raw}" is not a number of seconds`, { hint: 'give whole seconds (0 = take the suggestion at once) or "-" to inherit' });
  }
  return body;
}

const inherit = (v: unknown): unknown => (v === null ? '(global)' : Array.isArray(v) ? v.join(',') || '(none)' : v);

/** A group for people: null fields say where their value comes from. */
function describeGroup(g: GroupView): Record<string, unknown> {
  return {
    name: g.name,
    image: g.image ?? '(the deploy image)',
    hostnamePattern: inherit(g.hostnamePattern),
    keep: inherit(g.keep),
    kernelArgs: g.kernelArgs.join(' ') || '(none)',
    targetDisk: g.targetDisk ?? '(first suitable disk)',
    promptTimeout: inherit(g.promptTimeout),
    nodes: g.nodes,
  };
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

export function registerGroups(program: Command): void {
  const groups = program.command('groups').description('configuration groups: settings shared by every node in a group');

  groups
    .command('ls')
    .description('list groups')
    .option('--json', 'print a JSON array (fields: name, image, hostnamePattern, keep, kernelArgs, targetDisk, promptTimeout, nodes)')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await apiFor(cmd).request<GroupView[]>('GET', '/api/v1/groups');
      printList(
        list,
        [
          ['name', (g) => g.name],
          ['nodes', (g) => g.nodes],
          ['image', (g) => g.image ?? '(deploy)'],
          ['hostname pattern', (g) => inherit(g.hostnamePattern)],
          ['keep', (g) => inherit(g.keep)],
          ['target disk', (g) => inherit(g.targetDisk)],
          ['prompt', (g) => inherit(g.promptTimeout)],
          ['kernel args', (g) => g.kernelArgs.join(' ')],
        ],
        Boolean(flags.json),
      );
    });

  groups
    .command('show <name>')
    .description('show one group')
    .option('--json', 'print JSON')
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const g = await apiFor(cmd).request<GroupView>('GET', `/api/v1/groups/${groupName(name)}`);
      printObject(flags.json ? (g as unknown as Record<string, unknown>) : describeGroup(g), Boolean(flags.json));
    });

  groups
    .command('set <name>')
    .description('create a group or change it; only the options given change, "-" clears a field (its nodes then use the global setting)')
    .option('--image <ref>', 'image of its nodes: NAME (latest version) or NAME@VERSION')
    .option('--hostname-pattern <pattern>', 'hostname suggestion, e.g. web{n} ({n} sequence number, {mac} the MAC)')
    .option('--keep <mountpoints>', 'comma-separated mount points kept on re-image, e.g. /data,/srv')
    .option('--kernel-arg <arg>', 'kernel argument for its nodes (repeat for several; replaces the list)', collect)
    .option('--no-kernel-args', 'no extra kernel arguments')
    .option('--target-disk <disk>', 'disk to restore onto: name, /dev path, serial or WWN')
    .option('--prompt-timeout <seconds>', 'how long the hostname prompt waits before taking the suggestion')
    .option('--json', 'print JSON')
    .action(async (name: string, flags: GroupSetFlags & { json?: boolean }, cmd: Command) => {
      const body = groupPatch(flags);
      const g = await apiFor(cmd).request<GroupView>('PUT', `/api/v1/groups/${groupName(name)}`, body);
      printObject(flags.json ? (g as unknown as Record<string, unknown>) : describeGroup(g), Boolean(flags.json));
    });

  groups
    .command('rm <name>')
    .description('remove a group (refused while nodes belong to it)')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      await apiFor(cmd).request('DELETE', `/api/v1/groups/${groupName(name)}`);
      process.stdout.write(`removed group ${name}\n`);
    });

  registerGroupBmc(groups);
}
