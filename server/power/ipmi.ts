/**
 * The IPMI power driver: IPMI v2.0 over LAN (RMCP+, `-I lanplus`) through
 * the real `ipmitool` (Debian package ipmitool). ipmitool runs with an
 * argument array, never a shell, and the password travels in its
 * environment (`-E` reads IPMI_PASSWORD): never on a command line, where
 * `ps` would show it to every user. The argv, the output parsers and the
 * failure classifier are pure functions; the process runner is injected.
 */
import { spawn } from 'node:child_process';
import { ImgsrvError } from '../../core/errors.ts';
import type { BmcCredentials, BootDevice, PowerAction, PowerAnswer, PowerDriver, PowerState } from './driver.ts';

/** What one ipmitool run gave back. */
export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one ipmitool command: argv (without the program) and the extra environment. */
export type ToolRunner = (args: readonly string[], env: Readonly<Record<string, string>>) => Promise<ToolResult>;

/** Tuning of the IPMI driver. */
export interface IpmiOptions {
  /** ipmitool's per-request timeout, seconds (`-N`). */
  timeoutSeconds?: number;
  /** ipmitool's own retransmissions per request (`-R`). */
  toolRetries?: number;
  /** Further whole attempts after a busy BMC or no answer (never after an authentication failure). */
  retries?: number;
  /** Pause before attempt n+1: n × this, ms. */
  backoffMs?: number;
  run?: ToolRunner;
  sleep?: (ms: number) => Promise<void>;
}

/** The ipmitool argv for one command: session options first, the command after. */
export function ipmitoolArgs(c: Pick<BmcCredentials, 'address' | 'port' | 'user'>, command: readonly string[], o: { timeoutSeconds: number; toolRetries: number }): string[] {
  // -C 3 (RAKP-HMAC-SHA1, AES-CBC-128): the suite every IPMI 2.0 BMC must offer; ipmitool's discovery of
  // the channel's suites fails on some BMCs (ipmi_sim among them). -v: the RAKP and completion-code
  // messages on stderr, which tell a wrong password from an unknown user from no answer at all.
  return ['-I', 'lanplus', '-H', c.address, '-p', String(c.port ?? 623), '-U', c.user, '-E', '-C', '3',
    '-N', String(o.timeoutSeconds), '-R', String(o.toolRetries), '-v', ...command];
}

/** The state in `chassis power status` output ("Chassis Power is on"). */
export function parsePowerStatus(stdout: string): PowerState | undefined {
  const m = /Chassis Power is (on|off)/i.exec(stdout);
  return m ? (m[1]!.toLowerCase() as PowerState) : undefined;
}

/** The boot device selector in `chassis bootparam get 5` output. */
export function parseBootDevice(stdout: string): BootDevice | 'other' | 'none' | undefined {
  const m = /Boot Device Selector\s*:\s*(.+)/i.exec(stdout);
  if (!m) return undefined;
  const v = m[1]!.trim();
  if (/PXE/i.test(v)) return 'pxe';
  if (/Hard-?Drive/i.test(v)) return 'disk';
  if (/No override/i.test(v)) return 'none';
  return 'other';
}

/** An ImgsrvError for a failed run, from ipmitool's stderr; `transient` ones are worth another attempt. */
export function classifyFailure(address: string, r: ToolResult): { error: ImgsrvError; transient: boolean } {
  const text = `${r.stderr}\n${r.stdout}`;
  // The line that decided it names the cause (e.g. "RAKP 2 HMAC is invalid"); ipmitool's last line is only "Unable to establish…".
  const why = (re: RegExp) => (text.split('\n').find((l) => re.test(l))?.trim().replace(/^>\s*/, '').replace(/^Error:\s*/, '') || lastLine(r.stderr) || lastLine(r.stdout) || `exit status ${r.code}`);
  const auth = /HMAC is invalid|unauthorized name|invalid authentication|insufficient privilege|Unauthorized|password/i;
  if (auth.test(text)) {
    const what = /unauthorized name/i.test(text) ? 'the user name' : 'the user name or password';
    return {
      transient: false,
      error: new ImgsrvError('BMC_AUTH', `BMC ${address} refused ${what} (${why(auth)})`, {
        hint: 'set the right ones: `imgsrv nodes bmc set MAC --address A --user U --password-stdin`',
      }),
    };
  }
  const busy = /busy|Insufficient resources|0xc0\b/i;
  if (busy.test(text)) {
    return { transient: true, error: new ImgsrvError('BMC_BUSY', `BMC ${address} is busy (${why(busy)})`, { hint: 'try again in a minute' }) };
  }
  const silent = /Get Auth Capabilities error|No response|timeout|timed out|Could not open socket|Unable to establish/i;
  if (silent.test(text)) {
    return {
      transient: true,
      error: new ImgsrvError('BMC_UNREACHABLE', `BMC ${address} did not answer (${why(silent)})`, {
        hint: 'check its address and that UDP 623 reaches it from this server',
      }),
    };
  }
  return { transient: false, error: new ImgsrvError('BMC_FAILED', `BMC ${address} refused the command: ${why(/$^/)}`) };
}

function lastLine(s: string): string {
  // -v adds chatter ("Loading IANA PEN Registry…"); the decisive line is the last one.
  const lines = s.split('\n').map((l) => l.trim()).filter((l) => l && !/^Loading IANA|^Running Get VSO|^Invalid completion code received: Invalid command|^Discovered IPMB/.test(l));
  return lines.at(-1)?.replace(/^>\s*/, '') ?? '';
}

/** Run ipmitool for real: argv array, no shell, a bare environment plus `env`; killed after `killAfterMs`. */
export function spawnIpmitool(killAfterMs = 120_000): ToolRunner {
  return (args, env) =>
    new Promise((resolve) => {
      const child = spawn('ipmitool', [...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({ code: 127, stdout, stderr: err.code === 'ENOENT' ? 'ipmitool is not installed' : err.message });
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, stdout, stderr: signal ? `${stderr}\nipmitool timed out` : stderr });
      });
    });
}

/** IPMI over LAN+ via ipmitool. */
export class IpmiDriver implements PowerDriver {
  readonly name = 'ipmi';
  private readonly o: Required<IpmiOptions>;
  constructor(opts: IpmiOptions = {}) {
    this.o = {
      timeoutSeconds: opts.timeoutSeconds ?? 2,
      toolRetries: opts.toolRetries ?? 2,
      retries: opts.retries ?? 2,
      backoffMs: opts.backoffMs ?? 1000,
      run: opts.run ?? spawnIpmitool(),
      sleep: opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    };
  }

  /** Run one command, again after a busy BMC or no answer; throws the classified error of the last attempt. */
  private async call(c: BmcCredentials, command: readonly string[]): Promise<{ stdout: string; attempts: number }> {
    for (let attempt = 1; ; attempt++) {
      const r = await this.o.run(ipmitoolArgs(c, command, this.o), { IPMI_PASSWORD: c.password });
      if (r.code === 0) return { stdout: r.stdout, attempts: attempt };
      if (r.code === 127) throw new ImgsrvError('BMC_FAILED', r.stderr, { hint: 'install it: apt-get install ipmitool (setup.sh does)' });
      const { error, transient } = classifyFailure(c.address, r);
      if (!transient || attempt > this.o.retries) {
        throw attempt > 1 ? new ImgsrvError(error.code, `${error.message} after ${attempt} attempts`, { hint: error.hint }) : error;
      }
      await this.o.sleep(attempt * this.o.backoffMs);
    }
  }

  async status(c: BmcCredentials): Promise<PowerAnswer> {
    const { stdout, attempts } = await this.call(c, ['chassis', 'power', 'status']);
    const state = parsePowerStatus(stdout);
    if (!state) throw new ImgsrvError('BMC_FAILED', `BMC ${c.address} gave no power state: ${oneLine(stdout)}`);
    return { state, answer: oneLine(stdout), attempts };
  }

  async power(c: BmcCredentials, action: PowerAction): Promise<PowerAnswer> {
    const { stdout, attempts } = await this.call(c, ['chassis', 'power', action]);
    return { answer: oneLine(stdout), attempts };
  }

  /**
   * Set the boot device for the next boot only, then read it back: some BMCs
   * accept the override and drop it (MAAS and Ironic both confirm it), so an
   * override the BMC does not report is an error here, not a surprise at boot.
   */
  async bootOnce(c: BmcCredentials, device: BootDevice): Promise<PowerAnswer> {
    const set = await this.call(c, ['chassis', 'bootdev', device]);
    const got = await this.call(c, ['chassis', 'bootparam', 'get', '5']);
    const now = parseBootDevice(got.stdout);
    if (now !== device) {
      throw new ImgsrvError('BMC_FAILED', `BMC ${c.address} accepted boot device ${device} but reports ${now ?? 'no boot flags'}`, {
        hint: 'set the boot order in its firmware setup, or update the BMC',
      });
    }
    return { answer: `${oneLine(set.stdout)}; next boot: ${device}`, attempts: set.attempts + got.attempts - 1 };
  }
}

function oneLine(s: string): string {
  return s.trim().split('\n').map((l) => l.trim()).filter(Boolean).join('; ').slice(0, 300);
}
