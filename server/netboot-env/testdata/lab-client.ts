/**
 * A stand-in client for the lab tests, bundled as /imgsrv/client.mjs in place
 * of the real one to check /init's side of the contract: the environment, the
 * console (a prompt answered through the serial port), the exit code handling,
 * and an address that survives DHCP lease renewals. The kernel command line
 * picks the behaviour:
 *   imgsrv.labclient=prompt     ask for a name on the console, print it, exit 3
 *   imgsrv.labclient=heartbeat  report every 5 s for 75 s with the interface's
 *                               current address, then exit 0 (init reboots)
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline/promises';

const env = process.env;
const mode = /(?:^|\s)imgsrv\.labclient=(\S+)/.exec(readFileSync('/proc/cmdline', 'utf8'))?.[1] ?? 'prompt';
console.log(
  `lab-client: started pid ${process.pid} node ${process.version} iface ${env.IMGSRV_IFACE} ip ${env.IMGSRV_IP} mac ${env.IMGSRV_MAC} firmware ${env.IMGSRV_FIRMWARE} server ${env.IMGSRV_SERVER} tty ${process.stdin.isTTY === true}`,
);

if (mode === 'prompt') {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const name = await rl.question('lab-client: hostname? ');
  rl.close();
  console.log(`lab-client: got "${name.trim()}"`);
  process.exit(3);
}

/** The interface's IPv4 addresses right now (what a download would be using). */
const addresses = (): string[] => (networkInterfaces()[env.IMGSRV_IFACE ?? ''] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);

const end = Date.now() + 75_000;
while (Date.now() < end) {
  const ips = addresses();
  const body = { mac: env.IMGSRV_MAC, ip: ips.join(',') || 'none', arch: 'x86_64', firmware: env.IMGSRV_FIRMWARE, kernel: 'lab-client', phase: 'client' };
  try {
    const r = await fetch(`${env.IMGSRV_SERVER}/api/v1/nodes/report`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.IMGSRV_TOKEN}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(4000),
    });
    console.log(`lab-client: reported ip ${body.ip}: ${r.status}`);
  } catch (err) {
    console.log(`lab-client: report failed with ip ${body.ip}: ${(err as Error).message}`);
  }
  await new Promise((r) => setTimeout(r, 5000));
}
process.exit(0);
