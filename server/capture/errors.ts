/**
 * Turn what ssh and rsync say when they fail into one coded, one-line error
 * that tells the operator what to do. Pure: exit code + stderr in, error out.
 */
import { ImgsrvError } from '../../core/errors.ts';

/** Context for the messages: who we talked to and where the staging tree lives. */
export interface FailureContext {
  target: string;
  /** 'ssh' for our own probes, 'rsync' for a transfer. */
  tool: 'ssh' | 'rsync';
  exitCode: number | null;
  signal?: NodeJS.Signals | null | undefined;
  stderr: string;
  /** ssh checked against a pinned key (--host-key, --known-hosts) rather than the data dir's known_hosts. */
  pinned?: boolean | undefined;
}

/** Classify a failed ssh/rsync run. */
export function classifyFailure(c: FailureContext): ImgsrvError {
  const e = c.stderr;
  const t = c.target;
  if (/No space left on device|ENOSPC|Disk quota exceeded/i.test(e)) {
    return new ImgsrvError('DISK_FULL', `the server's disk is full while capturing ${t}`, {
      hint: 'free space in the data dir (imgsrv images rm NAME@VERSION) or move --data to a bigger disk, then capture again',
    });
  }
  if (/Permission denied \((publickey|password|keyboard-interactive)|Too many authentication failures|no such identity|Load key .*: (invalid format|No such file)|Permission denied, please try again/i.test(e)) {
    return new ImgsrvError('SSH_AUTH', `ssh to ${t} refused the key`, {
      hint: "add the server's public key to the host's /root/.ssh/authorized_keys, or pass --identity KEY (a path on the server)",
    });
  }
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/i.test(e)) {
    if (c.pinned) {
      return new ImgsrvError('HOST_KEY', `the ssh host key of ${t} does not match the pinned key; nothing was captured`, {
        hint: "check the key on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and pin that one",
      });
    }
    return new ImgsrvError('HOST_KEY', `the ssh host key of ${t} changed since the last capture; nothing was captured`, {
      hint: "if the host was reinstalled, check its new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and capture again with --host-key SHA256:… (it replaces the key remembered in <data>/ssh/known_hosts)",
    });
  }
  if (/Could not resolve hostname|Name or service not known|Temporary failure in name resolution/i.test(e)) {
    return new ImgsrvError('HOST_UNREACHABLE', `cannot resolve ${t}`, { hint: 'check the host name, or use its IP address' });
  }
  if (/Connection refused|No route to host|Connection timed out|Network is unreachable|Operation timed out|Host is down|failed to connect to/i.test(e)) {
    return new ImgsrvError('HOST_UNREACHABLE', `cannot reach ${t} (${shortReason(e)})`, {
      hint: c.tool === 'rsync' && /rsync:\/\//.test(t) ? 'check that the host runs an rsync daemon on that port' : 'check that the host is up, on this network, and runs sshd on that port',
    });
  }
  if (/rsync: (command )?not found|rsync: No such file or directory|sh: \d*:? ?rsync: not found|bash: (line \d+: )?rsync: command not found/i.test(e) || (c.tool === 'rsync' && c.exitCode === 127)) {
    return new ImgsrvError('NO_RSYNC', `${t} has no rsync`, { hint: 'install it on the host (apt-get install rsync, dnf install rsync) and capture again' });
  }
  if (/Connection closed|Connection reset|Broken pipe|connection unexpectedly closed|Timeout, server .* not responding|timeout in data send\/receive|io timeout/i.test(e) || c.exitCode === 255) {
    return new ImgsrvError('CONNECTION_LOST', `the connection to ${t} was lost during the ${c.tool === 'rsync' ? 'transfer' : 'probe'} (${shortReason(e)})`, {
      hint: 'check the network and capture again: the staging tree is kept, so the next capture resumes where this one stopped',
    });
  }
  if (/@ERROR: Unknown module|@ERROR: auth failed|@ERROR: access denied/i.test(e)) {
    return new ImgsrvError('CAPTURE_FAILED', `the rsync daemon on ${t} refused: ${shortReason(e)}`, { hint: 'check the module name and the daemon\'s hosts allow / auth users' });
  }
  const how = c.signal ? `was killed by ${c.signal}` : `exited with ${c.exitCode}`;
  return new ImgsrvError('CAPTURE_FAILED', `${c.tool} from ${t} ${how}: ${shortReason(e) || 'no message'}`, {
    hint: 'see the server log for the full rsync output; fix that and capture again',
  });
}

/** The most telling line of an ssh/rsync stderr, trimmed to fit one line. */
export function shortReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .filter((l) => !/^rsync error: .*\(code \d+\)/.test(l) && !/^Warning: Permanently added/.test(l));
  const best = lines.find((l) => /ssh: connect to host|Permission denied|No space|Connection|refused|not found|failed/i.test(l)) ?? lines.at(-1) ?? '';
  return best.replace(/\s+/g, ' ').slice(0, 200);
}

/** The error for "ssh works but we are not root there". */
/** The sample's disk layout is one the restore can't recreate (layout-check.ts): refused before anything is copied. */
export function layoutError(target: string, r: { what: string; hint: string }): ImgsrvError {
  return new ImgsrvError('LAYOUT_UNSUPPORTED', `cannot capture ${target}: ${r.what}; nothing was captured`, { hint: r.hint });
}

export function notRootError(target: string, uid: string): ImgsrvError {
  return new ImgsrvError('NOT_ROOT', `ssh to ${target} logs in as uid ${uid}, not root: a capture must read every file`, {
    hint: "capture as root (--user root, with the key in /root/.ssh/authorized_keys and PermitRootLogin prohibit-password)",
  });
}
