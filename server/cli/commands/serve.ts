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
  subnet?: RawConfig[];
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
    .option(
      '--subnet <spec>',
      'a subnet behind a DHCP relay (full mode; repeat for more; replaces dhcp.subnets): CIDR,range=FIRST-LAST[,router=IP][,dns=IP+IP][,domain=D][,lease=SECONDS]',
      (v: string, prev: RawConfig[] | undefined) => [...(prev ?? []), parseSubnetFlag(v)],
    )
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
        dhcp: { mode: flags.dhcp, range: flags.range, subnets: flags.subnet },
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

const SUBNET_KEYS: Record<string, string> = { range: 'range', router: 'router', dns: 'dns', domain: 'domain', lease: 'leaseSeconds' };

/**
 * `--subnet 198.18.1.0/24,range=198.18.1.100-198.18.1.200,router=198.18.1.1,dns=198.18.0.53`
 * → one dhcp.subnets entry; the config schema then checks the values (naming dhcp.subnets.N.key).
 */
export function parseSubnetFlag(v: string): RawConfig {
  const [cidr, ...pairs] = v.split(',');
  if (!cidr || cidr.includes('=')) throw new InvalidArgumentError('must start with the subnet, e.g. 198.18.1.0/24,range=198.18.1.100-198.18.1.200,router=198.18.1.1');
  const out: RawConfig = { subnet: cidr };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? SUBNET_KEYS[pair.slice(0, eq)] : undefined;
    if (!key) throw new InvalidArgumentError(`"${pair}": expected range=, router=, dns=, domain= or lease=`);
    const value = pair.slice(eq + 1);
    out[key] = key === 'dns' ? value.split('+').filter(Boolean) : key === 'leaseSeconds' ? Number(value) : value;
  }
  return out;
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
