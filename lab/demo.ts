/**
 * `imgsrv lab demo`: the whole mission on this machine. A lab network, a
 * sample host running a compact real OS with a web application (or, with
 * `sample: 'debian'`, a debootstrapped Debian 12 VM captured over ssh), a
 * capture of it, then N blank QEMU VMs (BIOS and UEFI alternating) that network-boot,
 * restore it peer-to-peer, reboot into it from their own disks, and answer.
 * Even-numbered nodes get a pre-assigned hostname (unattended); odd ones
 * are asked on their console and take the suggestion when nobody answers.
 */
import { rmSync } from 'node:fs';
import { startDeployLab, type LabImgsrv } from './deploy-lab.ts';
import { DEBIAN_LOGIN, startDebianDeployLab } from './debian-lab.ts';
import type { Vm } from './qemu.ts';
import { sampleAppResponse, SAMPLE_APP_PORT, SAMPLE_UP_LINE } from './sample-os.ts';

/** Options of one demo run. */
export interface DemoOptions {
  /** State directory (server data, disks, serial logs); emptied first. */
  dir: string;
  nodes: number;
  /** Seconds to wait for every node to answer. */
  timeoutSec: number;
  /** Seconds an unattended node's hostname prompt waits. */
  promptSec: number;
  /** Keep everything running at the end until `waitForever` resolves (Ctrl-C). */
  keepRunning?: () => Promise<void>;
  say: (line: string) => void;
  /** The sample: 'busybox' (default, a compact OS, fast) or 'debian' (debootstrapped Debian 12 captured over ssh; lab/debian-sample.ts). */
  sample?: 'busybox' | 'debian';
}

/** One node's outcome. */
export interface DemoNode {
  name: string;
  firmware: 'bios' | 'uefi';
  mac: string;
  hostname: string | null;
  ip: string | null;
  /** Seconds from power-on to its application answering. */
  upSeconds: number | null;
  appAnswers: boolean;
}

/** Run the demo; resolves with one row per node (the caller prints the table). Tears everything down. */
export async function runDemo(o: DemoOptions): Promise<DemoNode[]> {
  rmSync(o.dir, { recursive: true, force: true });
  o.say('building the sample OS and the netboot environment (cached after the first run), capturing the sample…');
  const { d, image, diskSize, waitUp } = await startSample(o);
  try {
    o.say(`imgsrv serving in namespace ${d.srv.ns} at http://198.18.0.1`);
    o.say(`blank nodes now get ${image} (imgsrv deploy set)`);

    const nodes: DemoNode[] = [];
    const vms: Vm[] = [];
    const t = Date.now();
    for (let i = 1; i <= o.nodes; i++) {
      const firmware = i % 2 === 1 ? 'bios' : 'uefi';
      const mac = `52:54:00:de:00:${i.toString(16).padStart(2, '0')}`;
      const node: DemoNode = { name: `vm${i}`, firmware, mac, hostname: null, ip: null, upSeconds: null, appAnswers: false };
      if (i % 2 === 0) {
        node.hostname = `web-${i}`;
        await d.server.cli(['nodes', 'assign', mac, node.hostname]);
      }
      vms.push(await d.blankVm({ name: node.name, firmware, mac, diskSize }));
      nodes.push(node);
      o.say(`${node.name}: ${firmware}, ${mac}, blank ${diskSize.replace(/G$/, ' GiB')} disk, ${node.hostname ? `hostname ${node.hostname} pre-assigned` : `will ask its hostname (takes the suggestion after ${o.promptSec} s)`}`);
    }
    o.say(`watching: serial logs in ${o.dir}/*.serial.log, progress with \`imgsrv nodes ls\``);
    await Promise.all(
      nodes.map(async (n, i) => {
        try {
          const up = await waitUp(vms[i]!, n.mac, o.timeoutSec * 1000);
          n.hostname = up.hostname;
          n.ip = up.ip;
          n.upSeconds = Math.round((Date.now() - t) / 1000);
          const body = await d.srv.exec('curl', ['-sS', '--max-time', '20', `http://${n.ip}:${SAMPLE_APP_PORT}/`]).catch(() => '');
          n.appAnswers = sampleAppResponse(n.hostname).test(body);
          o.say(`${n.name} is up as ${n.hostname} at ${n.ip} after ${n.upSeconds} s; its app ${n.appAnswers ? 'answers' : 'does NOT answer'}`);
        } catch (err) {
          o.say(`${n.name} did not come up: ${(err as Error).message.split('\n')[0]}`);
        }
      }),
    );
    if (o.keepRunning) {
      o.say(`running; inspect with: ip netns exec ${d.srv.ns} imgsrv --data ${d.server.data} nodes ls — Ctrl-C to tear down`);
      await o.keepRunning();
    }
    return nodes;
  } finally {
    await d.destroy();
  }
}

/** The lab with the chosen sample captured and set, and how a restored node of it is seen up. */
async function startSample(o: DemoOptions): Promise<{
  d: LabImgsrv;
  image: string;
  diskSize: string;
  waitUp: (vm: Vm, mac: string, timeoutMs: number) => Promise<{ hostname: string; ip: string }>;
}> {
  if (o.sample !== 'debian') {
    const d = await startDeployLab({ work: o.dir, promptTimeout: o.promptSec, httpPort: 80 });
    o.say(`sample host ${d.sample.rsyncUrl}: a ${(d.os.bytes / 2 ** 20).toFixed(1)} MiB OS whose web app answers "hostname=<name>" on port ${SAMPLE_APP_PORT}`);
    o.say(`captured sample@1 in ${d.captureSeconds.toFixed(1)} s`);
    return {
      d,
      image: 'sample@1',
      diskSize: '1G',
      waitUp: async (vm, _mac, timeoutMs) => {
        const m = await vm.waitFor(SAMPLE_UP_LINE, timeoutMs);
        return { hostname: m[1]!, ip: m[2]! };
      },
    };
  }
  // The netboot environment keeps the downloaded image in RAM: more than the compact sample needs.
  const d = await startDebianDeployLab({ work: o.dir, promptTimeout: o.promptSec, httpPort: 80, nodeMemoryMiB: 1536, say: o.say });
  const b = d.sample.build;
  o.say(`Debian sample (${b.kernelVersion}, ${(b.installedBytes / 1e6).toFixed(0)} MB installed, cached in ${d.sample.cacheDir}) booted in ${d.sampleBootSeconds.toFixed(0)} s; its web app answers "hostname=<name>" on port ${SAMPLE_APP_PORT}`);
  o.say(`${d.captureLine || `captured ${d.image.name}@${d.image.version}`} (${d.captureSeconds.toFixed(0)} s over ssh); the sample is off now`);
  return {
    d,
    image: `${d.image.name}@${d.image.version}`,
    diskSize: '3G',
    // Up: getty's login prompt with its name after the reboot, then "done" from the restored system itself.
    waitUp: async (vm, mac, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      const rebooted = await vm.waitFor(/imgsrv: rebooting into the restored system/, timeoutMs);
      const login = await vm.waitFor(DEBIAN_LOGIN, Math.max(1, deadline - Date.now()), (rebooted.index ?? 0) + rebooted[0].length);
      for (;;) {
        const node = (await d.nodes()).find((n) => n.mac === mac);
        if (node?.phase === 'done' && typeof node.ip === 'string') return { hostname: login[1]!, ip: node.ip };
        if (Date.now() > deadline) throw new Error(`${mac} showed its login prompt but did not report done`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    },
  };
}
