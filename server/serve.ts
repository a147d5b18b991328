/**
 * `imgsrv serve`: start HTTP, DHCP and TFTP together and stop them together
 * on SIGTERM. A service that fails to start stops the others and the
 * process exits with a one-line reason; a bad packet never does.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config/schema.ts';
import { ImgsrvError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { BmcCredentialStore } from './power/credentials.ts';
import { PowerService } from './power/service.ts';
import { IpmiDriver } from './power/ipmi.ts';
import { initDataDir } from './data-dir.ts';
import { linkSpeed, resolveInterface, type InterfaceAddress } from './interfaces.ts';
import { buildApp } from './api/app.ts';
import { createRegistry } from './api/metrics.ts';
import type { StatusInfo } from './api/routes/status.ts';
import { createBootDecider } from './boot-policy.ts';
import { createNodeTftpFiles } from './tftp-files.ts';
import { VERSION } from '../core/version.ts';
import { ImageStore } from './images/store.ts';
import { ImageLocks } from './images/locks.ts';
import { ImageSigner } from './images/signer.ts';
import { keyIdOf } from '../images/signing.ts';
import { CaptureManager } from './capture/manager.ts';
import { SwarmService } from './swarm/service.ts';
import { RsyncDaemon } from './swarm/rsyncd.ts';
import { installLoaders } from '../netboot/boot/loaders.ts';
import { startDhcpServer, type DhcpServer } from '../netboot/dhcp/server.ts';
import { LiveSettingsService, type LiveSettings } from './live-settings.ts';
import { dhcpStoreOptions } from './store/dhcp-store.ts';
import { rangeSchema } from './config/schema.ts';
import { startTftpServer } from '../netboot/tftp/server.ts';
import { readNeighbours, type BootSourceDeps } from './boot-source.ts';
import { checkUpTimeouts, requestReimage, type DeployContext } from './deploy/plan.ts';


/** A running server: its address and a stop function that undoes everything start did. */
export interface RunningServer {
  httpBase: string;
  iface: InterfaceAddress;
  stop(): Promise<void>;
}

/** Start every service the config asks for. */
export async function serve(config: Config, log: Logger): Promise<RunningServer> {
  if (!config.interface) {
    throw new ImgsrvError('BAD_USAGE', 'no netboot interface given', { hint: 'pass --interface IFACE (the NIC on the nodes\' network)' });
  }
  const iface = resolveInterface(config.interface, config.address);
  const { store, paths, nodes, secrets } = initDataDir(config.data);
  // Before anything logs an event: the limits the config asks for, applied to what older runs left.
  const trimmed = store.events.setRetention({ maxAgeMs: config.events.maxAge * 1000, maxCount: config.events.maxCount });
  if (trimmed) log.info({ trimmed, ...config.events }, 'old events trimmed');
  const registry = createRegistry(store);
  const startedAt = Date.now();
  const services: StatusInfo['services'] = {};
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: unknown) => log.error({ err }, 'stop failed'));
  };

  // Stops run in reverse: the store closes last, after every service that writes to it.
  stops.push(async () => store.close());
  try {
    // Settings changed in the console or with `imgsrv settings` override the config file's.
    const live = new LiveSettingsService(store, config);
    const settings = live.get();
    for (const o of live.overrides()) log.warn(o, 'a setting changed in the console or with `imgsrv settings` overrides the config file and flags');
    store.leases.setReservations(settings.dhcp.reservations);
    store.nodes.setLimit(config.nodes.max);
    for (const a of config.nodes.assignments) store.nodes.assignHostname(a.mac, a.hostname);

    const httpHost = config.http.bind ?? iface.address;
    const httpBase = `http://${iface.address}${config.http.port === 80 ? '' : `:${config.http.port}`}`;
    const loaders = installLoaders(paths.tftpRoot, log.child({ subsystem: 'netboot' }));
    if (!existsSync(join(paths.netbootDir, 'vmlinuz')) || !existsSync(join(paths.netbootDir, 'initrd.img'))) {
      log.warn({ dir: paths.netbootDir }, 'no netboot environment yet: nodes will fail to boot until you run `imgsrv netboot build`');
    }

    // Images and captures: sweep what a crash left half-built before anything new starts.
    const locks = new ImageLocks(store.db);
    const signer = new ImageSigner(paths.root);
    if (signer.configured) log.info({ keyId: keyIdOf(signer.publicKey()!) }, 'image signing configured: new versions are signed');
    const images = new ImageStore({ root: join(paths.root, 'images'), locks, logger: log.child({ subsystem: 'images' }), signer });
    images.sweepPartials();
    const captures = new CaptureManager({
      store,
      images,
      dataDir: paths.root,
      settings: {
        excludes: config.capture.exclude,
        zstdLevel: config.capture.zstdLevel,
        threads: config.capture.threads,
        connectTimeoutSeconds: config.capture.ssh.connectTimeout,
        user: config.capture.ssh.user,
        port: config.capture.ssh.port,
        identity: config.capture.ssh.identity,
      },
      logger: log,
    });

    // The swarm: seeder + tracker (mounted on HTTP below) + the rsync daemon exporting the .torrent files.
    let swarm: SwarmService | undefined;
    if (config.swarm.enabled) {
      const torrentsDir = join(paths.root, 'torrents');
      swarm = await SwarmService.create({
        torrentsDir,
        images,
        locks,
        address: iface.address,
        httpBase,
        torrentPort: config.swarm.torrentPort,
        rsyncPort: config.swarm.rsyncPort,
        uploadLimit: config.swarm.uploadLimit === 'auto' ? Math.round(0.9 * (linkSpeed(iface.name) ?? 0)) : config.swarm.uploadLimit,
        superSeed: config.swarm.superSeed,
        settleSeconds: config.swarm.settle,
        macsByIp: () => new Map(store.nodes.list().flatMap((n) => (n.ip ? [[n.ip, n.mac] as [string, string]] : []))),
        logger: log,
        registry,
      }).catch((err: unknown) => {
        throw new ImgsrvError('SOCKET', `the BitTorrent seeder cannot listen on ${iface.address}:${config.swarm.torrentPort}: ${(err as Error).message}`, {
          hint: 'stop whatever holds that port or set swarm.torrentPort',
          cause: err,
        });
      });
      const running = swarm;
      stops.push(() => running.stop());
      const rsyncd = new RsyncDaemon({
        stateDir: join(paths.root, 'rsyncd'),
        modules: [{ name: 'torrents', path: torrentsDir, comment: 'imgsrv image torrents (read-only)' }],
        address: iface.address,
        port: config.swarm.rsyncPort,
        logger: log,
        registry,
      });
      await rsyncd.start();
      stops.push(() => rsyncd.stop());
      services.swarm = { state: 'running', detail: `seeder ${iface.address}:${swarm.seeder.port}, rsync ${iface.address}:${config.swarm.rsyncPort}` };
    } else services.swarm = { state: 'off' };

    // Who may receive a node's boot files and token (boot-source.ts).
    const bootSources: BootSourceDeps = {
      leaseOf: (ip) => store.leases.byIp(ip),
      neighbours: () => readNeighbours(),
      allowUnverified: () => config.boot.unverifiedSources === 'allow',
    };
    const deploy: DeployContext = {
      store,
      images,
      locks,
      settings: { ...config.deploy, hostnamePattern: config.nodes.hostnamePattern, linger: config.swarm.linger },
      torrentBase: `rsync://${iface.address}${config.swarm.rsyncPort === 873 ? '' : `:${config.swarm.rsyncPort}`}/torrents`,
    };
    // Nodes that rebooted into their restored system and never said it came up.
    const upWatch = setInterval(() => {
      for (const mac of checkUpTimeouts(deploy)) log.warn({ mac }, 'node did not come up after its reboot');
    }, 15_000);
    upWatch.unref();
    stops.push(async () => clearInterval(upWatch));
    const credentials = new BmcCredentialStore(store, secrets);
    const power = new PowerService({
      store,
      credentials,
      driver: new IpmiDriver(),
      log: log.child({ subsystem: 'power' }),
      markForReimage: (mac, image) => void requestReimage(deploy, mac, image),
    });
    const app = await buildApp({
      nodes,
      power: { credentials, service: power },
      signingKey: () => signer.publicKey(),
      live,
      swarm,
      deploy,
      images,
      captures,
      store,
      logger: log,
      registry,
      boot: {
        filesDir: paths.netbootDir,
        loaders: { dir: paths.tftpRoot, available: loaders },
        httpBase,
        mode: () => live.get().boot.mode,
        tftpServer: iface.address,
        kernelArgs: config.boot.kernelArgs,
        sources: bootSources,
        requestsPerMinute: config.boot.requestsPerMinute,
      },
      status: () => ({ version: VERSION, startedAt, interface: iface.name, address: iface.address, services }),
    });
    try {
      await app.listen({ host: httpHost, port: config.http.port });
    } catch (err) {
      throw new ImgsrvError('SOCKET', `HTTP cannot listen on ${httpHost}:${config.http.port}: ${(err as Error).message}`, {
        hint: 'stop whatever holds that port or set http.port',
        cause: err,
      });
    }
    stops.push(() => app.close());
    await swarm?.activate();
    // Runs before app.close (stops run in reverse): a SIGTERM cancels captures and waits for their cleanup.
    stops.push(() => captures.shutdown());
    services.http = { state: 'running', detail: httpBase };

    if (config.tftp.enabled) {
      const tftp = await startTftpServer({
        root: paths.tftpRoot,
        address: iface.address,
        port: config.tftp.port,
        maxBlockSize: config.tftp.maxBlockSize,
        maxWindowSize: config.tftp.maxWindowSize,
        maxTransfers: config.tftp.maxTransfers,
        maxTransfersPerAddress: config.tftp.maxTransfersPerAddress,
        maxTimeoutSeconds: config.tftp.maxClientTimeoutSeconds,
        maxTransferMs: config.tftp.maxTransferSeconds * 1000,
        resolveVirtual: createNodeTftpFiles({ store, nodes, sources: bootSources, httpBase, kernelArgs: config.boot.kernelArgs, logger: log.child({ subsystem: 'tftp' }) }),
        onTransfer: (ev) => {
          if (!ev.ok) store.events.add('tftp.failed', `TFTP ${ev.file} to ${ev.remote} failed: ${ev.error ?? 'unknown'}`, { data: ev });
        },
        logger: log.child({ subsystem: 'tftp' }),
        registry,
      }).catch((err: unknown) => {
        throw new ImgsrvError('SOCKET', `TFTP cannot listen on ${iface.address}:${config.tftp.port}: ${(err as Error).message}`, {
          hint: 'stop the other TFTP server (e.g. tftpd-hpa) or set tftp.enabled: false',
          cause: err,
        });
      });
      stops.push(() => tftp.close());
      services.tftp = { state: 'running', detail: `${iface.address}:${config.tftp.port}` };
    } else services.tftp = { state: 'off' };

    // DHCP runs in the mode and range the live settings say, and restarts when they change.
    let dhcp: DhcpServer | undefined;
    const dhcpLog = log.child({ subsystem: 'dhcp' });
    const bootDecider = createBootDecider({ config, bootMode: () => live.get().boot.mode, httpBase, serverAddress: iface.address, loaders });
    const startDhcp = async (s: LiveSettings): Promise<void> => {
      if (s.dhcp.mode === 'off') {
        services.dhcp = { state: 'off' };
        return;
      }
      if (s.dhcp.mode === 'full' && !s.dhcp.range && config.dhcp.subnets.length === 0) {
        throw new ImgsrvError('BAD_CONFIG', 'dhcp.mode is full but no dhcp.range is set', { hint: 'pass --range FIRST-LAST (or --subnet for relayed subnets) or use --dhcp proxy' });
      }
      dhcp = await startDhcpServer({
        mode: s.dhcp.mode,
        serverAddress: iface.address,
        interfaceName: iface.name,
        subnet: { address: iface.address, prefix: iface.prefix, router: config.dhcp.router, dns: config.dhcp.dns, domain: config.dhcp.domain },
        range: s.dhcp.range ? rangeSchema.parse(s.dhcp.range) : undefined,
        leaseSeconds: config.dhcp.leaseSeconds,
        // Subnets behind relays: served with the same server address (siaddr, option 54, boot URLs), which
        // the relays forward to and the far subnets reach through their routers.
        relayed: config.dhcp.subnets.map((n) => ({ ...n.subnet, range: n.range, router: n.router, dns: n.dns, domain: n.domain, leaseSeconds: n.leaseSeconds })),
        // Leases, the node inventory, and one commit per batch of packets before any reply.
        ...dhcpStoreOptions(store),
        boot: bootDecider,
        logger: dhcpLog,
        registry,
        ports: config.dhcp.ports,
        limits: config.dhcp.limits,
      }).catch((err: unknown) => {
        if (err instanceof ImgsrvError && err.code === 'BAD_CONFIG') throw err;
        throw new ImgsrvError('SOCKET', `DHCP cannot start: ${(err as Error).message}`, {
          hint: 'another DHCP server on this host holds port 67: stop it or use --dhcp off',
          cause: err,
        });
      });
      const relayed = s.dhcp.mode === 'full' ? config.dhcp.subnets.map((n) => `${n.subnet.address}/${n.subnet.prefix}`) : [];
      const detail = [s.dhcp.mode, ...(s.dhcp.range ? [s.dhcp.range] : []), ...(relayed.length ? [`relayed ${relayed.join(', ')}`] : [])].join(' ');
      services.dhcp = { state: 'running', detail };
    };
    const stopDhcp = async (): Promise<void> => {
      const running = dhcp;
      dhcp = undefined;
      await running?.close();
    };
    await startDhcp(settings);
    stops.push(stopDhcp);
    live.onApply(async (next, prev) => {
      if (next.dhcp.mode === prev.dhcp.mode && next.dhcp.range === prev.dhcp.range) return;
      dhcpLog.info({ mode: next.dhcp.mode, range: next.dhcp.range }, 'DHCP settings changed: restarting DHCP');
      await stopDhcp();
      await startDhcp(next).catch((err: unknown) => {
        services.dhcp = { state: 'failed', detail: (err as Error).message };
        throw err;
      });
    });

    writeFileSync(paths.serverInfo, JSON.stringify({ url: `http://${httpHost === '0.0.0.0' ? '127.0.0.1' : httpHost}:${config.http.port}`, pid: process.pid }) + '\n');
    store.events.add('server.started', `imgsrv ${VERSION} serving on ${iface.name} (${iface.address})`, { data: { services } });
    log.info({ interface: iface.name, address: iface.address, httpBase, services }, 'imgsrv ready');
    return { httpBase, iface, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
