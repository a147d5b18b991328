/**
 * A real BMC for the lab: OpenIPMI's `ipmi_sim` (Debian package openipmi)
 * serving IPMI 2.0 over LAN+ from a lab host. Its chassis is a small
 * control script the simulator runs for every power and boot-device change
 * (`chassis_control`, OpenIPMI's external power-control hook): it keeps the
 * state in files the test reads, and logs each call. With a VM behind it,
 * the chassis is a QEMU process that boots from the device IPMI set for
 * that one power-on.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { stopChild, type LabHost } from './netns.ts';

/** A running simulated BMC. */
export interface SimBmc {
  address: string;
  port: number;
  user: string;
  password: string;
  /** The chassis power as the control script holds it. */
  power(): 'on' | 'off';
  /** The boot device last set through IPMI ("default" until one is). */
  bootDevice(): string;
  /** Every chassis-control call, e.g. "set power 1". */
  calls(): string[];
  /** With a VM: the boot device of each power-on, and what its serial console printed. */
  boots(): string[];
  serial(): string;
  /** What ipmi_sim printed. */
  log(): string;
  stop(): Promise<void>;
}

/** How the BMC starts. */
export interface SimBmcOptions {
  user: string;
  password: string;
  port?: number;
  /** Listen here instead of `host.address` (e.g. an address put on the switch's bridge). */
  address?: string;
  /**
   * A machine behind the chassis: powering on runs QEMU with `argv(bootDevice)` (the one-time
   * device set through IPMI, else "default"; the override is spent at that power-on, as on a real
   * BMC), powering off ends it. QEMU gets `ipmi-bmc-extern` on ipmi_sim's VM port: the guest sees
   * this BMC on its KCS interface.
   */
  vm?: { argv: (bootDevice: string) => string[]; vmPort?: number };
}

/** The chassis: `<script> <mc> get power|boot …` prints `parm:value`; `set parm value …` stores them. With `vm`, power is a QEMU process. */
function chassisScript(dir: string, vm: boolean): string {
  const power = vm
    ? {
        get: 'if [ -f "$d/vm.pid" ] && kill -0 "$(cat "$d/vm.pid")" 2>/dev/null; then echo power:1; else echo power:0; fi',
        on: 'if ! { [ -f "$d/vm.pid" ] && kill -0 "$(cat "$d/vm.pid")" 2>/dev/null; }; then b=$(cat "$d/boot" 2>/dev/null || echo default); echo default > "$d/boot"; echo "$b" >> "$d/boots"; setsid "$d/vm-$b" </dev/null >>"$d/serial" 2>&1 & echo $! > "$d/vm.pid"; fi',
        off: 'if [ -f "$d/vm.pid" ]; then kill "$(cat "$d/vm.pid")" 2>/dev/null; rm -f "$d/vm.pid"; fi',
      }
    : { get: 'echo "power:$(cat "$d/power" 2>/dev/null || echo 0)"', on: 'echo 1 > "$d/power"', off: 'echo 0 > "$d/power"' };
  return `#!/bin/sh
# Written by lab/ipmi-sim.ts: the chassis of a simulated BMC, its state in files.
d='${dir}'
shift
op=$1
shift
echo "$op $*" >> "$d/calls"
case $op in
get)
  for p in "$@"; do
    case $p in
      power) ${power.get} ;;
      boot) echo "boot:$(cat "$d/boot" 2>/dev/null || echo default)" ;;
      *) echo "no such parameter: $p"; exit 1 ;;
    esac
  done ;;
set)
  while [ $# -ge 2 ]; do
    case $1 in
      power) if [ "$2" = 1 ]; then ${power.on}; else ${power.off}; fi ;;
      boot) echo "$2" > "$d/boot" ;;
      reset) ;;
      *) echo "no such parameter: $1"; exit 1 ;;
    esac
    shift 2
  done ;;
*) echo "no such operation: $op"; exit 1 ;;
esac
`;
}

/** A POSIX shell word for `s` (the VM start scripts are written from our own argv). */
const shellWord = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** Start ipmi_sim on `host` (which must have an address), resolving once it answers over LAN+. */
export async function startIpmiSim(host: LabHost, opts: SimBmcOptions): Promise<SimBmc> {
  const address = opts.address ?? host.address;
  if (!address) throw new Error('startIpmiSim: the host needs an address');
  const port = opts.port ?? 623;
  const vmPort = opts.vm?.vmPort ?? 9002;
  // lan.conf has no escapes inside a quoted word: a value that needs one is refused, never altered.
  const q = (s: string) => {
    if (/["\\\s]/.test(s)) throw new Error(`startIpmiSim: ${JSON.stringify(s)} cannot be written into lan.conf (no quotes, backslashes or spaces)`);
    return `"${s}"`;
  };
  const login = `${q(opts.user)} ${q(opts.password)}`;
  const dir = mkdtempSync(join(tmpdir(), 'imgsrv-ipmi-sim-'));
  const state = join(dir, 'state');
  mkdirSync(state);
  const script = join(dir, 'chassis');
  writeFileSync(script, chassisScript(dir, Boolean(opts.vm)), { mode: 0o700 });
  if (opts.vm) {
    const bmcDevice = ['-chardev', `socket,id=ipmi0,host=127.0.0.1,port=${vmPort},reconnect=2`, '-device', 'ipmi-bmc-extern,id=bmc0,chardev=ipmi0', '-device', 'isa-ipmi-kcs,bmc=bmc0'];
    for (const b of ['default', 'pxe', 'disk', 'none', 'cdrom', 'bios']) {
      const argv = [...opts.vm.argv(b), ...bmcDevice];
      writeFileSync(join(dir, `vm-${b}`), `#!/bin/sh\nexec ${argv.map(shellWord).join(' ')}\n`, { mode: 0o700 });
    }
  }
  chmodSync(script, 0o700);
  writeFileSync(
    join(dir, 'lan.conf'),
    [
      'name "imgsrvlab"',
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr ${address} ${port}`,
      '    priv_limit admin',
      // RMCP+ only in practice: ipmitool -I lanplus never uses these IPMI 1.5 auth types.
      '    allowed_auths_callback md5',
      '    allowed_auths_user md5',
      '    allowed_auths_operator md5',
      '    allowed_auths_admin md5',
      `    guid ${randomBytes(16).toString('hex')}`,
      '  endlan',
      `  chassis_control "${script} 0x20"`,
      // The VM's side of ipmi-bmc-extern; power stays with chassis_control, which runs QEMU.
      ...(opts.vm ? [`  serial 15 127.0.0.1 ${vmPort} codec VM`] : []),
      `  user 2 true ${login} admin 10 md5`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  // One BMC (0x20) with no sensors: the chassis and the LAN channel are all imgsrv uses.
  writeFileSync(join(dir, 'bmc.emu'), 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n');
  const child: ChildProcess = host.spawn('ipmi_sim', ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', state, '-n'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const pwFile = join(dir, 'pw');
  writeFileSync(pwFile, opts.password, { mode: 0o600 });
  const stop = async () => {
    await stopChild(child);
    // The VM is the chassis script's child, not ours: end it by the PID the script recorded.
    const vmPid = Number(existsSync(join(dir, 'vm.pid')) ? readFileSync(join(dir, 'vm.pid'), 'utf8') : 0);
    if (vmPid > 0) {
      try {
        process.kill(vmPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`ipmi_sim exited with ${child.exitCode}: ${out}`);
      const ok = await host
        .exec('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', address, '-p', String(port), '-U', opts.user, '-f', pwFile, '-N', '1', '-R', '1', 'mc', 'info'], { timeoutMs: 10_000 })
        .then(() => true, () => false);
      if (ok) break;
      if (i >= 20) throw new Error(`ipmi_sim did not answer over LAN+ in 10 s: ${out}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  rmSync(pwFile, { force: true });
  const read = (f: string, dflt: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').trim() : dflt);
  return {
    address,
    port,
    user: opts.user,
    password: opts.password,
    power: () => (read('power', '0') === '1' ? 'on' : 'off'),
    bootDevice: () => read('boot', 'default'),
    calls: () => read('calls', '').split('\n').filter(Boolean),
    boots: () => read('boots', '').split('\n').filter(Boolean),
    serial: () => read('serial', ''),
    log: () => out,
    stop,
  };
}
