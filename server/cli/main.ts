#!/usr/bin/env node
/**
 * The `imgsrv` command. The only place that reads argv, the environment and
 * the config file; everything below receives typed options.
 * Exit codes: 0 ok, 1 failure, 2 bad usage.
 */
import { Command, CommanderError, Option } from 'commander';
import { ImgsrvError } from '../../core/errors.ts';
import { VERSION } from '../../core/version.ts';
import { registerServe } from './commands/serve.ts';
import { registerStatus } from './commands/status.ts';
import { registerNodes } from './commands/nodes.ts';
import { registerSwarm } from './commands/swarm.ts';
import { registerNetboot } from './commands/netboot.ts';
import { registerService } from './commands/service.ts';
import { registerInit } from './commands/init.ts';
import { registerLab } from './commands/lab.ts';
import { registerCapture } from './commands/capture.ts';
import { registerImages } from './commands/images.ts';
import { registerDeploy } from './commands/deploy.ts';
import { registerAdmin } from './commands/admin.ts';
import { registerGroups } from './commands/groups.ts';
import { registerSettings } from './commands/settings.ts';
import { registerKeys } from './commands/keys.ts';
import { exitAfterDrain, exitQuietlyOnEpipe } from './exit.ts';


/** Build the command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('imgsrv')
    .description('Bare-metal imaging server: capture a sample machine, network-boot blank nodes, restore them peer-to-peer.')
    .version(VERSION)
    .addOption(new Option('--data <dir>', 'data directory (state, tokens, TFTP root)').env('IMGSRV_DATA').default('/var/lib/imgsrv'))
    .addOption(new Option('--server <url>', 'URL of the running imgsrv (default: from the data dir)').env('IMGSRV_SERVER'))
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();
  registerServe(program);
  registerInit(program);
  registerStatus(program);
  registerNodes(program);
  registerSwarm(program);
  registerNetboot(program);
  registerService(program);
  registerLab(program);
  registerCapture(program);
  registerImages(program);
  registerDeploy(program);
  registerGroups(program);
  registerSettings(program);
  registerKeys(program);
  registerAdmin(program);
  // Every subcommand (and theirs) throws instead of exiting, so main() picks the exit code.
  const override = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      if (err.code === 'commander.executeSubCommandAsync') return err.exitCode;
      return 2; // commander already printed the one-line reason
    }
    if (err instanceof ImgsrvError) {
      process.stderr.write(`imgsrv: ${err.oneLine()}\n`);
      return err.exitCode;
    }
    process.stderr.write(`imgsrv: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  exitQuietlyOnEpipe();
  const code = await main(process.argv.slice(2));
  // serve keeps the process alive itself; other commands exit once done, after their output drained.
  if (code !== 0 || !process.argv.slice(2).includes('serve')) await exitAfterDrain(code);
}
