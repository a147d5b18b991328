/**
 * `imgsrv install-service`: a systemd unit so the server comes back by
 * itself after a power loss. State lives in the data dir, so a restart
 * resumes leases and boot assignments.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ImgsrvError } from '../../../core/errors.ts';
import type { GlobalOptions } from '../args.ts';

/** Render the unit. Each ExecStart word is checked: systemd splits on spaces and expands % and $. */
export function renderUnit(opts: { bin: string; data: string; config?: string | undefined; interface?: string | undefined }): string {
  const args = [opts.bin, 'serve', '--data', opts.data];
  if (opts.config) args.push('--config', opts.config);
  if (opts.interface) args.push('--interface', opts.interface);
  for (const a of args) {
    if (!/^[A-Za-z0-9_./:@=+,-]+$/.test(a)) {
      throw new ImgsrvError('BAD_USAGE', `cannot put "${a}" in a systemd unit`, { hint: 'use paths without spaces, quotes, % or $' });
    }
  }
  return `[Unit]
Description=imgsrv bare-metal imaging server (DHCP/TFTP/HTTP netboot)
Documentation=file://${resolve(opts.bin, '..', '..', 'README.md')}
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${args.join(' ')}
Restart=always
RestartSec=2
# It binds ports 67, 69, 80 and 4011 and creates namespaces only in the lab.
User=root
LimitNOFILE=65536
KillSignal=SIGTERM
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
`;
}

export function registerService(program: Command): void {
  program
    .command('install-service')
    .description('install and enable a systemd unit that runs `imgsrv serve` at boot and restarts it if it dies')
    .option('--config <file>', 'config file the service uses')
    .option('--interface <iface>', 'netboot interface')
    .option('--print', 'print the unit instead of installing it')
    .option('--unit-dir <dir>', 'where to write the unit', '/etc/systemd/system')
    .action((flags: { config?: string; interface?: string; print?: boolean; unitDir: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const bin = resolve(new URL('../../../bin/imgsrv', import.meta.url).pathname);
      const unit = renderUnit({ bin, data: resolve(g.data), config: flags.config && resolve(flags.config), interface: flags.interface });
      if (flags.print) {
        process.stdout.write(unit);
        return;
      }
      const path = resolve(flags.unitDir, 'imgsrv.service');
      writeFileSync(path, unit, { mode: 0o644 });
      process.stdout.write(`wrote ${path}\n`);
      if (!existsSync('/run/systemd/system')) {
        process.stdout.write('systemd is not running here: enable it later with `systemctl enable --now imgsrv`\n');
        return;
      }
      execFileSync('systemctl', ['daemon-reload'], { stdio: 'inherit' });
      execFileSync('systemctl', ['enable', '--now', 'imgsrv.service'], { stdio: 'inherit' });
    });
}
