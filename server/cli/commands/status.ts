/** `imgsrv status`: what the running server is doing. */
import type { Command } from 'commander';
import { apiFor } from '../client.ts';
import { printObject } from '../output.ts';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the running server: services, address, nodes by phase')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const api = apiFor(cmd);
      const status = await api.request<Record<string, unknown>>('GET', '/api/v1/status');
      printObject({ server: api.base, ...status }, Boolean(flags.json));
    });
}
