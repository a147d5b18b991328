/**
 * The one config file's schema. Every key is optional with a default, unknown
 * keys are errors (a typo must not be silently ignored), and every error
 * names the key's path (`dhcp.range`).
 */
import { isIPv4 } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { hostnamePatternProblem } from '../../core/hostname.ts';
import { diskHintProblem } from '../../contract/disk-hint.ts';
import { normalizeMac } from '../store/nodes.ts';
import { ipToInt } from '../../netboot/dhcp/options.ts';
import { contains, overlaps, parseCidr } from '../../netboot/dhcp/subnets.ts';
import { checkKernelArg } from '../../netboot/boot/cmdline.ts';

/** The boot builders' own rule for an extra kernel argument, so a bad one is refused at load, with its key path. */
export function kernelArgIssue(arg: string, ctx: z.RefinementCtx): void {
  try {
    checkKernelArg(arg);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
}

const ipv4 = z.string().refine((s) => isIPv4(s), { message: 'must be an IPv4 address' });
/** One DHCP rate limit (netboot/dhcp/rate-limit.ts): `rate` per second, `burst` at once. */
const dhcpRate = z.strictObject({ rate: z.number().positive(), burst: z.number().int().min(1) }).optional();
const mac = z.string().transform((s, ctx) => {
  const m = normalizeMac(s);
  if (!m) ctx.addIssue({ code: 'custom', message: 'must be a MAC address like aa:bb:cc:dd:ee:ff' });
  return m ?? s;
});
const hostname = z
  .string()
  .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i, 'must be a valid hostname (RFC 1123)');
/** A DHCP reservation: this MAC always gets this address (and hostname); the MAC is normalised. */
export const reservationSchema = z.strictObject({ mac, ip: ipv4, hostname: hostname.optional() });

/** "first-last" address range, e.g. 198.18.0.100-198.18.0.200. */
export const rangeSchema = z.string().transform((s, ctx) => {
  const [first, last, extra] = s.split('-');
  if (!first || !last || extra !== undefined || !isIPv4(first) || !isIPv4(last) || ipToInt(first) > ipToInt(last)) {
    ctx.addIssue({ code: 'custom', message: 'must be FIRST-LAST with two IPv4 addresses, first <= last' });
    return { first: '0.0.0.0', last: '0.0.0.0' };
  }
  return { first, last };
});

/** A network in CIDR form, 198.18.1.0/24 (no host bits set). */
export const cidrSchema = z.string().transform((s, ctx) => {
  const net = parseCidr(s);
  if (!net || net.address !== s.trim().split('/')[0]) {
    ctx.addIssue({ code: 'custom', message: net ? `must be the network address: ${net.address}/${net.prefix}` : 'must be a network like 198.18.1.0/24' });
    return { address: '0.0.0.0', prefix: 32 };
  }
  return net;
});

/** A subnet behind a DHCP relay: its network, addresses, router and DNS (full mode). */
export const relayedSubnetSchema = z
  .strictObject({
    subnet: cidrSchema,
    range: rangeSchema,
    router: ipv4.optional(),
    dns: z.array(ipv4).default([]),
    domain: z.string().optional(),
    /** Default: dhcp.leaseSeconds. */
    leaseSeconds: z.number().int().min(60).max(30 * 86400).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.subnet.prefix > 30) ctx.addIssue({ code: 'custom', path: ['subnet'], message: 'must be /30 or larger (room for a router and clients)' });
    for (const [key, ip] of [['range', s.range.first], ['range', s.range.last], ['router', s.router]] as const) {
      if (ip !== undefined && s.subnet.prefix <= 30 && !contains(s.subnet, ip)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `${ip} is outside ${s.subnet.address}/${s.subnet.prefix}` });
        return;
      }
    }
  });

/** Relayed subnets must not overlap one another (their pools would share addresses). */
function subnetsOverlap(list: ReadonlyArray<{ subnet: { address: string; prefix: number } }>, ctx: z.RefinementCtx): void {
  list.forEach((s, i) => {
    const j = list.findIndex((o, k) => k < i && overlaps(o.subnet, s.subnet));
    if (j >= 0) {
      const other = list[j]!.subnet;
      ctx.addIssue({ code: 'custom', path: ['subnets', i, 'subnet'], message: `overlaps dhcp.subnets.${j} (${other.address}/${other.prefix})` });
    }
  });
}

/** What a capture leaves out by default: kernel and runtime file systems' contents, caches, temp files. */
export const DEFAULT_CAPTURE_EXCLUDES = [
  '/proc/*',
  '/sys/*',
  '/dev/*',
  '/run/*',
  '/tmp/*',
  '/var/tmp/*',
  '/var/cache/apt/archives/*.deb',
  '/var/cache/apt/*.bin',
  '/swapfile',
  '/swap.img',
  'lost+found',
] as const;

const RATE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, bit: 1 / 8, kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8 };
/** A rate in bytes/s: a number, or a string like "100Mbit", "12.5MB" (per second implied; "/s" allowed). 0 = unlimited. */
export const rateSchema = z.union([z.number().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return Math.round(v);
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?(?:b|bit)?)(?:\/s)?\s*$/i.exec(v);
  const unit = m ? RATE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    ctx.addIssue({ code: 'custom', message: 'must be bytes per second, or a number with a unit: 100Mbit, 1Gbit, 12.5MB' });
    return 0;
  }
  return Math.round(Number(m[1]) * unit);
});

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
/** A duration in seconds: a number, or a string like "30d", "12h", "90m", "3600s". */
export const durationSchema = z.union([z.number().int().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+)\s*([smhd])\s*$/i.exec(v);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'must be seconds, or a number with a unit: 30d, 12h, 90m, 3600s' });
    return 0;
  }
  return Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]!;
});

/** The validated configuration every service receives. */
export type Config = z.infer<typeof configSchema>;

export const configSchema = z
  .object({
    data: z.string().min(1).default('/var/lib/imgsrv'),
    interface: z.string().min(1).optional(),
    /** The one stable address we answer from, when the interface has several. */
    address: ipv4.optional(),
    log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
    http: z
      .strictObject({
        port: z.number().int().min(1).max(65535).default(80),
        /** Address the API listens on; default: the netboot interface's address. '0.0.0.0' for all. */
        bind: ipv4.optional(),
      })
      .prefault({}),
    dhcp: z
      .strictObject({
        mode: z.enum(['full', 'proxy', 'off']).default('proxy'),
        range: rangeSchema.optional(),
        leaseSeconds: z.number().int().min(60).max(30 * 86400).default(3600),
        router: ipv4.optional(),
        dns: z.array(ipv4).default([]),
        domain: z.string().optional(),
        reservations: z.array(reservationSchema).default([]),
        /** Full mode: subnets behind DHCP relays (giaddr, RFC 3527 link selection, RFC 3011 subnet selection pick one). */
        subnets: z.array(relayedSubnetSchema).default([]),
        /** Ports, for tests that must not take 67/68/4011. */
        ports: z
          .strictObject({ server: z.number().int().default(67), client: z.number().int().default(68), proxy: z.number().int().default(4011) })
          .prefault({}),
        /** Rate limits per client MAC, per ingress, for new clients per ingress, and in total; one left out keeps its default, false turns them off. */
        limits: z.union([z.literal(false), z.strictObject({ perMac: dhcpRate, perIngress: dhcpRate, newClients: dhcpRate, total: dhcpRate })]).optional(),
      })
      .superRefine((d, ctx) => subnetsOverlap(d.subnets, ctx))
      .prefault({}),
    tftp: z
      .strictObject({
        enabled: z.boolean().default(true),
        port: z.number().int().min(1).max(65535).default(69),
        maxBlockSize: z.number().int().min(512).max(65464).default(1468),
        maxWindowSize: z.number().int().min(1).max(64).default(16),
        /** Transfers at once, in total and per client address (each holds a socket and a file); past them a request gets ERROR "server busy". */
        maxTransfers: z.number().int().min(1).max(10_000).default(256),
        maxTransfersPerAddress: z.number().int().min(1).max(10_000).default(8),
        /** Largest client `timeout` option honoured (RFC 2349 allows 255); a larger one is ignored and the server's own applies. */
        maxClientTimeoutSeconds: z.number().int().min(1).max(255).default(10),
        /** A transfer not done this long after its request is ended with an ERROR. */
        maxTransferSeconds: z.number().int().min(10).max(86_400).default(600),
      })
      .prefault({}),
    boot: z
      .strictObject({
        /** How kernel and initrd travel: iPXE over HTTP, or TFTP only (pxelinux for BIOS). */
        mode: z.enum(['http', 'tftp']).default('http'),
        biosLoader: z.enum(['ipxe', 'pxelinux']).default('ipxe'),
        /**
         * What UEFI x64 PXE nodes load first: iPXE (ipxe.efi, or snponly.efi over the firmware's NIC driver), or the
         * Secure Boot chain (shimx64.efi: Microsoft-signed shim → Debian-signed GRUB → Debian-signed kernel, all over
         * TFTP), which boots with Secure Boot on or off. UEFI HTTP Boot clients get iPXE in either case.
         */
        uefiLoader: z.enum(['ipxe.efi', 'snponly.efi', 'shimx64.efi']).default('ipxe.efi'),
        /** Extra kernel command-line arguments for the netboot environment. */
        kernelArgs: z.array(z.string().superRefine(kernelArgIssue)).default(['console=tty0', 'console=ttyS0,115200']),
        /**
         * A boot request from an address imgsrv can tie to no MAC (not its lease, not on a directly attached
         * network: a routed node of another DHCP server) gets no node token ('refuse'), or gets it ('allow').
         */
        unverifiedSources: z.enum(['refuse', 'allow']).default('refuse'),
        /** Boot requests (iPXE scripts, kernel, initrd) per client address per minute; past it the server answers 429. */
        requestsPerMinute: z.number().int().min(10).max(100_000).default(120),
      })
      .prefault({}),
    nodes: z
      .strictObject({
        /** Hostname suggestion for unassigned nodes; {n} is the node's sequence number, {mac} its MAC without colons. */
        hostnamePattern: z
          .string()
          .regex(/^[a-z0-9{}-]+$/i, 'may contain letters, digits, - and {n} / {mac}')
          .superRefine((p, ctx) => {
            const problem = hostnamePatternProblem(p);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .default('node-{n}'),
        assignments: z.array(z.strictObject({ mac, hostname })).default([]),
        /**
         * The inventory's cap for machines seen only through unauthenticated requests (DHCP, boot files): past it,
         * an unknown MAC is not added until it reports with its own token. Bounds what a flood of made-up MACs can write.
         */
        max: z.number().int().min(1).max(1_000_000).default(10_000),
      })
      .prefault({}),
    deploy: z
      .strictObject({
        /** The image blank nodes receive (NAME = its latest version, or NAME@VERSION); `imgsrv deploy set` overrides it. */
        image: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(@[1-9]\d{0,8})?$/, 'must be NAME or NAME@VERSION').optional(),
        /** Mount points whose partitions survive a re-image when the node's disk already has them with the same layout. */
        keep: z.array(z.string().regex(/^\/[^\s]*$/, 'must be an absolute mount point')).default([]),
        /** Seconds the hostname prompt waits on the node's console before taking the suggestion (0 = never prompt). */
        promptTimeout: z.number().int().min(0).max(86400).default(60),
        /** The disk to restore onto (name like nvme0n1, /dev path, serial or WWN); default: chosen by the node. */
        targetDisk: z
          .string()
          .superRefine((v, ctx) => {
            const problem = diskHintProblem(v);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .optional(),
        /** Seconds a node may take from its reboot into the restored system to that system's "up" report; past it the node shows failed: did not come up. */
        upTimeout: z.number().int().min(30).max(86400).default(900),
      })
      .prefault({}),
    capture: z
      .strictObject({
        /** rsync exclude patterns: absolute ones are anchored at the host's root ('/proc/*' keeps /proc itself). */
        exclude: z.array(z.string().min(1).regex(/^[^\n\r]+$/, 'one pattern per entry')).default([...DEFAULT_CAPTURE_EXCLUDES]),
        /** zstd level of the image artifact (see bench/capture for the trade-off). */
        zstdLevel: z.number().int().min(1).max(19).default(3),
        /**
         * zstd threads: N runs Debian's zstd with -TN (Node 24.11's built-in zstd cuts its output short
         * when multi-threaded); 0 compresses in-process on one thread. Default: every CPU.
         */
        threads: z.number().int().min(0).max(64).default(() => availableParallelism()),
        ssh: z
          .strictObject({
            user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a login name').default('root'),
            port: z.number().int().min(1).max(65535).default(22),
            /** Private key on the server; default: ssh's own (~/.ssh/id_*). */
            identity: z.string().regex(/^\/[A-Za-z0-9_./+@,=:-]*$/, 'must be an absolute path without spaces or quotes').optional(),
            connectTimeout: z.number().int().min(1).max(300).default(10),
          })
          .prefault({}),
      })
      .prefault({}),
    swarm: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** The seeder's BitTorrent TCP port. */
        torrentPort: z.number().int().min(1).max(65535).default(6881),
        /** The rsync daemon that exports the .torrent files (module `torrents`). */
        rsyncPort: z.number().int().min(1).max(65535).default(873),
        /**
         * The server's upload per image (bytes/s or "900Mbit"); 0 = unlimited; "auto" = 90 % of the
         * interface's link speed when the kernel reports one, else unlimited. Under the cap requests
         * queue and the rarest pieces go first, so each piece leaves the server about once and peers
         * carry the rest.
         */
        uploadLimit: z.union([z.literal('auto'), rateSchema]).default('auto'),
        /**
         * Show each peer only a few pieces at a time, the ones with the fewest copies in the swarm
         * (BEP 16-style super-seeding): nodes get different pieces from the server and trade the rest.
         */
        superSeed: z.boolean().default(true),
        /** Seconds a node keeps seeding after it has the whole image when the server has not said the deployment is done. */
        linger: z.number().int().min(0).max(86400).default(600),
        /** Seconds without leechers after which a swarm counts as done (nodes may stop seeding). */
        settle: z.number().int().min(0).max(3600).default(10),
      })
      .prefault({}),
    events: z
      .strictObject({
        /** Events older than this go (seconds, or "30d", "12h"); 0 = no age limit (the count still holds). */
        maxAge: durationSchema.default(30 * 86400),
        /**
         * The most events kept, the newest (a 1,000-node deployment logs a few tens per node). The store
         * stays under the cap: the oldest are trimmed every 1 % of it.
         */
        maxCount: z.number().int().min(100).max(10_000_000).default(100_000),
      })
      .prefault({}),
  })
  .strict();
