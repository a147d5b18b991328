/**
 * `imgsrv lab demo`: the whole mission on this machine. A lab network, a
 * sample host running a compact real OS with a web application, a capture
 * of it, then N blank QEMU VMs (BIOS and UEFI alternating) that network-boot,
 * restore it peer-to-peer, reboot into it from their own disks, and answer.
 * Even-numbered nodes get a pre-assigned hostname (unattended); odd ones
 * are asked on their console and take the suggestion when nobody answers.
 */
import { rmSync } from 'node:fs';
import { startDeployLab } from './deploy-lab.ts';
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
  const d = await startDeployLab({ work: o.dir, promptTimeout: o.promptSec, httpPort: 80 });
  try {
    o.say(`sample host ${d.sample.rsyncUrl}: a ${(d.os.bytes / 2 ** 20).toFixed(1)} MiB OS whose web app answers "hostname=<name>" on port ${SAMPLE_APP_PORT}`);
    o.say(`imgsrv serving in namespace ${d.srv.ns} at http://198.18.0.1`);
    o.say(`captured sample@1 in ${d.captureSeconds.toFixed(1)} s; blank nodes now get it (imgsrv deploy set sample)`);

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
      vms.push(await d.blankVm({ name: node.name, firmware, mac }));
      nodes.push(node);
      o.say(`${node.name}: ${firmware}, ${mac}, blank 1 GiB disk, ${node.hostname ? `hostname ${node.hostname} pre-assigned` : `will ask its hostname (takes the suggestion after ${o.promptSec} s)`}`);
    }
    o.say(`watching: serial logs in ${o.dir}/*.serial.log, progress with \`imgsrv nodes ls\``);
    await Promise.all(
      nodes.map(async (n, i) => {
        try {
          const m = await vms[i]!.waitFor(SAMPLE_UP_LINE, o.timeoutSec * 1000);
          n.hostname = m[1]!;
          n.ip = m[2]!;
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
