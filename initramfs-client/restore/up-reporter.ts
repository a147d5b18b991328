/**
 * "done" means the machine is up: the restore leaves a one-shot reporter in
 * the restored system that tells the server, with this node's own token, once
 * the system has reached its default target, and then removes itself (the
 * script, its token and its hook) so the file system is the image's again.
 *
 * Hooks, by the init the image has:
 * - systemd: a oneshot unit wanted by multi-user.target, ordered after it and
 *   after network-online.target;
 * - an inittab (busybox init's `::once:`, or sysvinit's `id:2345:once:`);
 * - neither: no reporter, and the caller says "done" before the reboot, as
 *   before (the restore result says so).
 *
 * The script is POSIX sh and uses whatever the image has to POST: curl,
 * wget (busybox's or GNU's), else bash's /dev/tcp. It retries for about ten
 * minutes (the network may come up late) and removes itself only after the
 * server answered 2xx.
 */
import { chmod, lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { regularFileInRoot, resolveInRoot } from './root-path.ts';

/** Where the reporter lives in the restored system. */
export const REPORTER_PATH = 'usr/local/lib/imgsrv/report-up';
export const UNIT_NAME = 'imgsrv-report-up.service';

/** Who to tell: the server's base URL, this node's MAC and its own token. */
export interface UpReporterTarget {
  server: string;
  mac: string;
  token: string;
}

/** Which hook was installed. */
export type UpReporterHook = 'systemd' | 'inittab' | 'none';

// Values go into a shell script: only the characters our server URL, MACs and tokens use.
const SAFE = /^[A-Za-z0-9._:/\[\]@-]+$/;

/** The reporter script (exported for tests); `ROOT` is the restored system's root as the script sees it ("" on the node). */
export function reporterScript(t: UpReporterTarget, hook: UpReporterHook): string {
  for (const [k, v] of Object.entries(t)) if (!SAFE.test(v)) throw new Error(`up reporter: ${k} has characters a shell script must not carry`);
  const body = JSON.stringify({ mac: t.mac, phase: 'done', message: 'the restored system is up' });
  const url = `${t.server}/api/v1/nodes/report`;
  const cleanup =
    hook === 'systemd'
      ? `rm -f "$ROOT/etc/systemd/system/multi-user.target.wants/${UNIT_NAME}" "$ROOT/etc/systemd/system/${UNIT_NAME}"`
      : hook === 'inittab'
        ? `sed -i '/imgsrv\\/report-up/d' "$ROOT/etc/inittab"`
        : ':';
  return `#!/bin/sh
# imgsrv: tell the server this restored machine is up (node ${t.mac}), then remove
# this reporter (script, token, hook). Installed by the restore; runs once.
ROOT="\${IMGSRV_ROOT:-}"
URL='${url}'
TOKEN='${t.token}'
BODY='${body}'
post() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -m 15 -o /dev/null -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' --data "$BODY" "$URL"
  elif command -v wget >/dev/null 2>&1; then
    # No -T: busybox 1.35's wget (Debian's busybox-static) crashes with it.
    wget -q -O /dev/null --header "authorization: Bearer $TOKEN" --header 'content-type: application/json' --post-data "$BODY" "$URL"
  elif command -v bash >/dev/null 2>&1; then
    TOKEN="$TOKEN" BODY="$BODY" URL="$URL" bash -c '
      rest=\${URL#http://}; hostport=\${rest%%/*}; path=/\${rest#*/}
      host=\${hostport%:*}; port=\${hostport##*:}; [ "$port" = "$hostport" ] && port=80
      exec 3<>"/dev/tcp/$host/$port" || exit 1
      printf "POST %s HTTP/1.0\\r\\nHost: %s\\r\\nAuthorization: Bearer %s\\r\\nContent-Type: application/json\\r\\nContent-Length: %s\\r\\n\\r\\n%s" "$path" "$hostport" "$TOKEN" "\${#BODY}" "$BODY" >&3
      IFS= read -r status <&3
      case "$status" in "HTTP/1."?" 2"*) exit 0 ;; *) exit 1 ;; esac'
  else
    echo "imgsrv: no curl, wget or bash to report with" >&2
    return 2
  fi
}
i=0
while [ "$i" -lt 60 ]; do
  if post; then
    ${cleanup}
    rm -f "$ROOT/${REPORTER_PATH}"
    rmdir "$ROOT/usr/local/lib/imgsrv" 2>/dev/null
    echo "imgsrv: reported to the server: this machine is up"
    exit 0
  fi
  [ "$?" -eq 2 ] && exit 1
  i=$((i + 1))
  sleep 10
done
echo "imgsrv: could not reach the server at ${t.server}" >&2
exit 1
`;
}

const UNIT = `[Unit]
Description=imgsrv: tell the server this restored machine is up (runs once, then removes itself)
Wants=network-online.target
After=network-online.target multi-user.target

[Service]
Type=oneshot
ExecStart=/${REPORTER_PATH}
RemainAfterExit=no

[Install]
WantedBy=multi-user.target
`;

/** Which init the restored tree boots with. */
async function initKind(root: string): Promise<UpReporterHook> {
  for (const p of ['usr/lib/systemd/systemd', 'lib/systemd/systemd']) if (await regularFileInRoot(root, p)) return 'systemd';
  return (await regularFileInRoot(root, 'etc/inittab')) ? 'inittab' : 'none';
}

/** Install the reporter into the restored tree at `root`; returns the hook used ('none': the image's init is unknown). */
export async function installUpReporter(root: string, target: UpReporterTarget, log: Logger): Promise<UpReporterHook> {
  const hook = await initKind(root);
  if (hook === 'none') {
    log.warn('no systemd and no inittab in the image: the node reports done before its reboot');
    return hook;
  }
  // Paths are created under the root only through directories that are not symlinks out of it.
  const dir = await mkdirInRoot(root, 'usr/local/lib/imgsrv');
  const script = join(dir, 'report-up');
  await writeFile(script, reporterScript(target, hook), { mode: 0o700 });
  await chmod(script, 0o700);
  if (hook === 'systemd') {
    const units = await mkdirInRoot(root, 'etc/systemd/system/multi-user.target.wants');
    await writeFile(join(units, '..', UNIT_NAME), UNIT, { mode: 0o644 });
    await symlink(`../${UNIT_NAME}`, join(units, UNIT_NAME)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } else {
    const inittab = (await resolveInRoot(root, 'etc/inittab'))!;
    const text = await readFile(inittab, 'utf8');
    // busybox init: "<tty>::<action>:<process>"; sysvinit: "<id>:<runlevels>:<action>:<process>", and it has an initdefault line.
    const busybox = !/^[^#\n]*:\d*:initdefault:/m.test(text);
    const line = busybox ? `::once:/${REPORTER_PATH}` : `imgs:2345:once:/${REPORTER_PATH}`;
    await writeFile(inittab, `${text.endsWith('\n') || text === '' ? text : `${text}\n`}${line}\n`);
  }
  log.info({ hook }, 'installed the first-boot reporter');
  return hook;
}

/** mkdir -p of `rel` inside `root`, following symlinks only as they resolve inside the tree (merged /usr and the like). */
async function mkdirInRoot(root: string, rel: string): Promise<string> {
  let at = '';
  for (const part of rel.split('/')) {
    const parent = at === '' ? root : await resolveInRoot(root, at);
    at = at === '' ? part : `${at}/${part}`;
    const host = await resolveInRoot(root, at);
    if (host) {
      if (!(await lstat(host)).isDirectory()) throw new Error(`up reporter: /${at} in the image is not a directory`);
      continue;
    }
    if (!parent) throw new Error(`up reporter: cannot create /${at} in the image`);
    await mkdir(join(parent, part), { mode: 0o755 });
  }
  return (await resolveInRoot(root, at))!;
}
