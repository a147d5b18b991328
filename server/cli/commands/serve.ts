/** `imgsrv serve`: run the server in the foreground until SIGTERM/SIGINT. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, type RawConfig } from '../../config/load.ts';
import { createRootLogger } from '../../../core/log.ts';
import type { GlobalOptions } from '../args.ts';

interface ServeFlags {
  config?: string;
  interface?: string;
  address?: string;
  dhcp?: 'full' | 'proxy' | 'off';
  range?: string;
  boot?: 'http' | 'tftp';
  httpPort?: number;
  logLevel?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the server: DHCP (full or proxy), TFTP, HTTP API and boot files')
    .option('--config <file>', 'config file (YAML or JSON); flags override it')
    .option('--interface <iface>', 'network interface the nodes are on')
    .option('--address <ip>', 'the one address to answer from, when the interface has several')
    .addOption(new Option('--dhcp <mode>', 'DHCP mode').choices(['full', 'proxy', 'off']))
    .option('--range <first-last>', 'address range for full DHCP, e.g. 198.18.0.100-198.18.0.200')
    .addOption(new Option('--boot <mode>', 'how kernel and initrd travel').choices(['http', 'tftp']))
    .addOption(new Option('--http-port <port>', 'HTTP port').argParser(parsePort))
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .action(async (flags: ServeFlags, cmd: Command) => {
      const global = cmd.optsWithGlobals<GlobalOptions & ServeFlags>();
      const overrides: RawConfig = {
        // --data always has a value (its default); a config file's `data` wins over the default only.
        data: cmd.parent?.getOptionValueSource('data') === 'default' && flags.config ? undefined : global.data,
        interface: flags.interface,
        address: flags.address,
        log: flags.logLevel ? { level: flags.logLevel } : undefined,
        http: flags.httpPort ? { port: flags.httpPort } : undefined,
        dhcp: { mode: flags.dhcp, range: flags.range },
        boot: { mode: flags.boot },
      };
      const config = loadConfig({ file: flags.config, overrides: stripUndefined(overrides) });
      const log = createRootLogger(config.log.level);
      // Loaded on demand: the other commands need none of the servers.
      const { serve } = await import('../../serve.ts');
      const server = await serve(config, log);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'stopping');
          void server.stop().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      log.info('stopped');
      process.exit(0);
    });
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port number 1-65535');
  return n;
}

function stripUndefined(o: RawConfig): RawConfig {
  const out: RawConfig = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) ? stripUndefined(v as RawConfig) : v;
  }
  return out;
}
