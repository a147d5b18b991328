import { describe, expect, it } from 'vitest';
import { classifyFailure, IpmiDriver, ipmitoolArgs, parseBootDevice, parsePowerStatus, type ToolResult } from './ipmi.ts';

const creds = { address: '198.18.0.9', user: 'admin', password: 'pa ss;$(rm -rf /)' };
const ok = (stdout: string): ToolResult => ({ code: 0, stdout, stderr: '' });
const fail = (stderr: string): ToolResult => ({ code: 1, stdout: '', stderr });

/** A runner that answers from a script of results and records every call. */
function scripted(results: ToolResult[]) {
  const calls: Array<{ args: readonly string[]; env: Readonly<Record<string, string>> }> = [];
  return {
    calls,
    run: async (args: readonly string[], env: Readonly<Record<string, string>>) => {
      calls.push({ args, env });
      const r = results.shift();
      if (!r) throw new Error('no more scripted results');
      return r;
    },
  };
}

describe('ipmitool argv', () => {
  it('never carries the password; the environment does', async () => {
    const s = scripted([ok('Chassis Power is on\n')]);
    const d = new IpmiDriver({ run: s.run, sleep: async () => undefined });
    expect(await d.status(creds)).toMatchObject({ state: 'on', attempts: 1 });
    expect(s.calls[0]!.args.join(' ')).not.toContain('pa ss');
    expect(s.calls[0]!.args).not.toContain('-P');
    expect(s.calls[0]!.args).toContain('-E');
    expect(s.calls[0]!.env).toEqual({ IPMI_PASSWORD: creds.password });
  });

  it('puts the address, port, user and command in their own arguments', () => {
    expect(ipmitoolArgs({ address: 'bmc-1', user: 'root', port: 6230 }, ['chassis', 'power', 'on'], { timeoutSeconds: 2, toolRetries: 1 })).toEqual([
      '-I', 'lanplus', '-H', 'bmc-1', '-p', '6230', '-U', 'root', '-E', '-C', '3', '-N', '2', '-R', '1', '-v', 'chassis', 'power', 'on',
    ]);
  });
});

describe('ipmitool output', () => {
  it('reads power state and boot device', () => {
    expect(parsePowerStatus('Chassis Power is off\n')).toBe('off');
    expect(parsePowerStatus('garbage')).toBeUndefined();
    expect(parseBootDevice(' Boot Flags :\n   - Boot Device Selector : Force PXE\n')).toBe('pxe');
    expect(parseBootDevice('   - Boot Device Selector : Force Boot from default Hard-Drive\n')).toBe('disk');
    expect(parseBootDevice('   - Boot Device Selector : No override\n')).toBe('none');
  });

  it('tells a wrong password from an unknown user from no answer (ipmitool 1.8.19 -v stderr)', () => {
    const pw = classifyFailure('b', fail('Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n'));
    expect(pw.error.code).toBe('BMC_AUTH');
    expect(pw.transient).toBe(false);
    expect(pw.error.oneLine()).toMatch(/refused the user name or password.*imgsrv nodes bmc set/);
    expect(classifyFailure('b', fail('RAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session\n')).error.message).toMatch(/refused the user name \(/);
    const gone = classifyFailure('b', fail('Get Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\nError: Unable to establish IPMI v2 / RMCP+ session\n'));
    expect(gone).toMatchObject({ transient: true });
    expect(gone.error.code).toBe('BMC_UNREACHABLE');
    expect(classifyFailure('b', fail('Set Chassis Power Control to Cycle failed: Node busy\n')).error.code).toBe('BMC_BUSY');
    expect(classifyFailure('b', fail('Set Chassis Power Control to Cycle failed: Command not supported in present state\n')).error.code).toBe('BMC_FAILED');
  });
});

describe('retries', () => {
  it('retries a busy BMC with backoff, then succeeds', async () => {
    const s = scripted([fail('Node busy'), fail('Node busy'), ok('Chassis Power Control: Cycle\n')]);
    const waits: number[] = [];
    const d = new IpmiDriver({ run: s.run, sleep: async (ms) => void waits.push(ms), backoffMs: 100 });
    expect(await d.power(creds, 'cycle')).toEqual({ answer: 'Chassis Power Control: Cycle', attempts: 3 });
    expect(waits).toEqual([100, 200]);
  });

  it('gives up after the retries, saying how many attempts', async () => {
    const s = scripted([fail('Get Auth Capabilities error'), fail('Get Auth Capabilities error')]);
    const d = new IpmiDriver({ run: s.run, sleep: async () => undefined, retries: 1 });
    await expect(d.status(creds)).rejects.toThrow(/did not answer .* after 2 attempts/);
  });

  it('never retries an authentication failure', async () => {
    const s = scripted([fail('> RAKP 2 HMAC is invalid')]);
    await expect(new IpmiDriver({ run: s.run, sleep: async () => undefined }).status(creds)).rejects.toMatchObject({ code: 'BMC_AUTH' });
    expect(s.calls).toHaveLength(1);
  });

  it('refuses a boot override the BMC accepts but does not report', async () => {
    const s = scripted([ok('Set Boot Device to pxe\n'), ok('   - Boot Device Selector : No override\n')]);
    await expect(new IpmiDriver({ run: s.run }).bootOnce(creds, 'pxe')).rejects.toThrow(/accepted boot device pxe but reports none/);
  });
});
