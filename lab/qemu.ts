/**
 * QEMU virtual machines for the lab: one NIC on a tap of the lab bridge, the
 * serial console on the process's stdio (readable and writable by tests),
 * real firmware (SeaBIOS + iPXE option ROM, or OVMF), software emulation only.
 *
 * Firmware output: with `-nographic` QEMU tells SeaBIOS to print on the serial
 * port (fw_cfg etc/sercon-port), so SeaBIOS and iPXE messages reach `serial`;
 * with `-vga none` alone SeaBIOS stays silent. OVMF prints to the serial port.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild, type Lab } from './netns.ts';

/** Where Debian's ovmf package puts the UEFI firmware (4 MiB flash layout). */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** OVMF built with Secure Boot and SMM (the variable store writable only from SMM), and a store with Microsoft's keys enrolled and Secure Boot on. */
export const OVMF_CODE_SECBOOT = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
export const OVMF_VARS_MS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

/** How to start one VM. */
export interface VmOptions {
  /** Short name (tap is `t<name>`, at most 15 characters). */
  name: string;
  firmware: 'bios' | 'uefi';
  /** MAC of the NIC, e.g. 52:54:00:12:34:56. */
  mac: string;
  /** Default 1024: the netboot environment unpacks 175 MiB into RAM and runs Node. */
  memoryMiB?: number;
  /** Direct kernel boot (no PXE): kernel, initrd and command line. */
  kernel?: string;
  initrd?: string;
  /** Kernel command line; `console=ttyS0` is added when missing. */
  append?: string;
  /** Boot from the network first (the NIC's iPXE ROM under SeaBIOS, OVMF's PXE/HTTP under UEFI); with a disk, the disk comes second. */
  netboot?: boolean;
  /** Let a guest reboot restart the VM (a real machine's reboot) instead of ending QEMU (-no-reboot, the default). */
  allowReboot?: boolean;
  /** A disk image (raw, or qcow2 by extension), the one the VM boots from after the network. */
  disk?: string;
  /** How `disk` is attached (default virtio-blk), and its serial number (what a `serial=` disk hint matches). */
  diskBus?: DiskBus;
  diskSerial?: string;
  /** More disks, never booted from (say, a decoy a restore must leave alone). */
  extraDisks?: ReadonlyArray<{ file: string; bus: DiskBus; serial?: string }>;
  /** Also append the serial console to this file. */
  serialLog?: string;
  /** NIC model; default virtio-net-pci (option ROM efi-virtio.rom from ipxe-qemu). */
  nicModel?: string;
  /**
   * The NIC's option ROM; default QEMU's (iPXE from ipxe-qemu) when netbooting,
   * none otherwise. '' under UEFI leaves PXE to OVMF's own network stack.
   */
  nicRom?: string;
  /**
   * QEMU fw_cfg strings for the firmware, e.g. OVMF's `opt/org.tianocore/IPv4PXESupport: 'n'`
   * (a machine whose setup turned PXE off, so only HTTP Boot is left).
   */
  fwCfg?: Readonly<Record<string, string>>;
  /**
   * UEFI with Secure Boot on, as a machine shipped with Microsoft's keys has it: OVMF's Secure Boot build on a
   * q35 machine with SMM, its variable store with the Microsoft KEK and db enrolled (OVMF_VARS_4M.ms.fd).
   */
  secureBoot?: boolean;
}

/** A disk controller QEMU emulates: virtio-blk, NVMe, or SATA on an AHCI controller. */
export type DiskBus = 'virtio' | 'nvme' | 'sata';

/** The -drive/-device arguments of disk `id` on `bus`. */
function diskArgs(id: string, file: string, bus: DiskBus, serial: string | undefined, bootindex: number | undefined): string[] {
  const format = file.endsWith('.qcow2') ? 'qcow2' : 'raw';
  // werror/rerror=report: a host-side write error reaches the guest as EIO, like a failing disk,
  // instead of QEMU pausing the VM (its default on ENOSPC), which a test would see as a hang.
  const drive = ['-drive', `file=${file},format=${format},if=none,id=${id},werror=report,rerror=report`];
  const extra = [serial ? `serial=${serial}` : '', bootindex ? `bootindex=${bootindex}` : ''].filter(Boolean);
  if (bus === 'virtio') return [...drive, '-device', ['virtio-blk-pci', `drive=${id}`, ...extra].join(',')];
  // QEMU's NVMe controller needs a serial.
  if (bus === 'nvme') return [...drive, '-device', ['nvme', `drive=${id}`, ...(serial ? extra : [`serial=${id}`, ...extra])].join(',')];
  return [...drive, '-device', `ahci,id=${id}-ahci`, '-device', ['ide-hd', `drive=${id}`, `bus=${id}-ahci.0`, ...extra].join(',')];
}

/** A running VM. */
export interface Vm {
  readonly pid: number;
  readonly tap: string;
  /** Everything the serial console printed so far. */
  readonly serial: string;
  /** Resolve when the serial output (from `from`, default 0) matches; reject on timeout or VM exit. */
  waitFor(re: RegExp, timeoutMs: number, from?: number): Promise<RegExpMatchArray>;
  /** Type on the serial console. */
  write(text: string): void;
  /** Resolve with QEMU's exit code when it exits by itself (e.g. guest power-off with -no-reboot). */
  waitExit(timeoutMs: number): Promise<number | null>;
  /** Stop QEMU (SIGTERM, then SIGKILL) and remove its temporary files. */
  stop(): Promise<void>;
}

/** Build the qemu-system-x86_64 argument list (exported for tests and for reading). */
export function qemuArgs(opts: VmOptions, tap: string, varsCopy: string | undefined): string[] {
  if (opts.netboot && opts.kernel) throw new Error('startVm: netboot and kernel are exclusive');
  const args = [
    '-name', opts.name,
    // Secure Boot needs SMM (OVMF's secboot build refuses to start without it), which needs q35.
    '-machine', opts.secureBoot ? 'q35,smm=on' : 'pc',
    '-accel', 'tcg',
    '-m', String(opts.memoryMiB ?? 1024),
    '-smp', '1',
    '-nographic', '-monitor', 'none', '-serial', 'stdio',
    ...(opts.allowReboot ? [] : ['-no-reboot']),
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
  ];
  // Without netboot the NIC's iPXE ROM is dead weight: romfile= skips it (faster firmware).
  const nic = [`${opts.nicModel ?? 'virtio-net-pci'}`, 'netdev=n0', `mac=${opts.mac}`];
  if (opts.netboot) nic.push('bootindex=1');
  const rom = opts.nicRom ?? (opts.netboot ? undefined : '');
  if (rom !== undefined) nic.push(`romfile=${rom}`);
  args.push('-device', nic.join(','));
  if (opts.firmware === 'uefi') {
    if (!varsCopy) throw new Error('startVm: UEFI needs a copy of the OVMF variable store');
    // secure=on: the flash answers writes only from SMM, so the OS can't change Secure Boot's variables behind the firmware.
    if (opts.secureBoot) args.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${opts.secureBoot ? OVMF_CODE_SECBOOT : OVMF_CODE}`);
    args.push('-drive', `if=pflash,format=raw,unit=1,file=${varsCopy}`);
  }
  for (const [name, value] of Object.entries(opts.fwCfg ?? {})) {
    // QEMU splits -fw_cfg at commas: a value holding one would smuggle in another property.
    if (/[,\s]/.test(name) || /[,\n]/.test(value)) throw new Error(`startVm: fw_cfg ${JSON.stringify(name)} must hold no comma or space`);
    args.push('-fw_cfg', `name=${name},string=${value}`);
  }
  if (opts.kernel) {
    args.push('-kernel', opts.kernel);
    if (opts.initrd) args.push('-initrd', opts.initrd);
    const append = opts.append ?? '';
    args.push('-append', /(^|\s)console=/.test(append) ? append : `console=ttyS0 ${append}`.trim());
  }
  // bootindex belongs to the device, not the drive: NIC first when netbooting, then the disk; extra disks never.
  if (opts.disk) args.push(...diskArgs('disk0', opts.disk, opts.diskBus ?? 'virtio', opts.diskSerial, opts.netboot ? 2 : 1));
  for (const [i, d] of (opts.extraDisks ?? []).entries()) args.push(...diskArgs(`disk${i + 1}`, d.file, d.bus, d.serial, undefined));
  return args;
}

/** Start a VM inside the lab's switch namespace on a new tap of the bridge. */
export async function startVm(lab: Lab, opts: VmOptions): Promise<Vm> {
  const tmp = await mkdtemp(join(tmpdir(), `imgsrv-vm-${opts.name}-`));
  let varsCopy: string | undefined;
  if (opts.secureBoot && opts.firmware !== 'uefi') throw new Error('startVm: Secure Boot needs firmware uefi');
  if (opts.firmware === 'uefi') {
    // The variable store is written by the firmware: each VM gets its own copy.
    varsCopy = join(tmp, 'OVMF_VARS.fd');
    await copyFile(opts.secureBoot ? OVMF_VARS_MS : OVMF_VARS, varsCopy);
  }
  let tap: string;
  let args: string[];
  try {
    args = qemuArgs(opts, `t${opts.name}`.slice(0, 15), varsCopy);
    tap = await lab.addTap(`t${opts.name}`.slice(0, 15));
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const child = lab.switch.spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error('qemu-system-x86_64 did not start');
  let serial = '';
  let stderr = '';
  const log: WriteStream | undefined = opts.serialLog ? createWriteStream(opts.serialLog, { flags: 'a' }) : undefined;
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (s: string) => {
    serial += s;
    log?.write(s);
    for (const w of [...waiters]) w();
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => (stderr += s));
  child.stdin?.on('error', () => undefined); // writes after exit
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      log?.end();
      void rm(tmp, { recursive: true, force: true });
      for (const w of [...waiters]) w();
      resolve(code);
    }),
  );
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;

  return {
    pid: child.pid,
    tap,
    get serial() {
      return serial;
    },
    waitFor(re, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = serial.slice(from).match(re);
          if (m) return done(() => resolve(m));
          if (exited()) done(() => reject(new Error(`VM ${opts.name} exited (${child.exitCode ?? child.signalCode}) before ${re}: ${stderr.trim()}\n${tail(serial)}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`VM ${opts.name}: no ${re} within ${timeoutMs} ms\n${tail(serial)}`))), timeoutMs);
        const done = (f: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    write(text) {
      child.stdin?.write(text);
    },
    waitExit(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`VM ${opts.name} still running after ${timeoutMs} ms\n${tail(serial)}`)), timeoutMs);
      });
      return Promise.race([exit, timeout]).finally(() => clearTimeout(timer));
    },
    async stop() {
      await stopChild(child);
      await exit;
      await rm(tmp, { recursive: true, force: true });
      // Free the tap name for another VM in this lab (lab.destroy removes it otherwise).
      await lab.switch.exec('ip', ['link', 'del', tap]).catch(() => undefined);
    },
  };
}

function tail(s: string, lines = 25): string {
  return s.split('\n').slice(-lines).join('\n');
}
