/**
 * Fuzz the boot script builders (netboot/boot: kernel command line, iPXE
 * script, local-boot script, pxelinux config) with hostile values for
 * everything they take from outside: server URL, token, MAC, file URLs and
 * paths, the local-boot reason, and the kernel arguments of the config and
 * of a node's group (through server/boot-policy.ts nodeKernelArgs and a real
 * store; group arguments as the API pattern admits them).
 * Oracle: a builder refuses with ImgsrvError, or its output means what the
 * same builder's output means for harmless placeholder values, with each
 * value in its placeholder's place: read by models of iPXE, Linux and
 * pxelinux (boot-models.ts), the same lines, commands, options, arguments
 * and kernel arguments. So no value can add a line, command, option,
 * expansion, comment or kernel argument.
 */
import { parseCmdline } from '../../../initramfs-client/client/boot-params.ts';
import { KERNEL_ARG_PATTERN } from '../../../server/api/routes/patterns.ts';
import { nodeKernelArgs } from '../../../server/boot-policy.ts';
import { ImgsrvError } from '../../../core/errors.ts';
import { openStore, type Store } from '../../../server/store/db.ts';
import { buildKernelCmdline } from '../../../netboot/boot/cmdline.ts';
import { buildIpxeScript, buildLocalBootIpxeScript } from '../../../netboot/boot/ipxe.ts';
import { buildPxelinuxConfig } from '../../../netboot/boot/pxelinux.ts';
import { ACCEPTED, rejected, type FuzzTarget, type Verdict } from '../harness.ts';
import type { Rng } from '../mutators.ts';
import { ipxeParse, linuxArgs, pxelinuxParse, type IpxeToken } from './boot-models.ts';

/** Input layout: fields separated by 0x1e (so NUL and newlines can be inside values). */
const SEP = 0x1e;
const FIELDS = ['server', 'token', 'mac', 'kernelUrl', 'initrdUrl', 'reason', 'efiUrl', 'pxeKernel', 'pxeInitrd'] as const;
const REASON = FIELDS.indexOf('reason');
const MAC_FIELD = FIELDS.indexOf('mac');
const MAC = '52:54:00:12:34:56';

/** Placeholder for field i: plain letters and digits every builder accepts, found nowhere else. */
const placeholder = (i: number): string => `Qz${i}x${'Q'.repeat(2)}`;

const HOSTILE = [
  ' ', '\t', '\n', '\r', '\r\n', '\0', '\v', '\f', '\u00a0', '\u00e0', '\u2028', '\u0085', '\ufeff', '${mac}', '${', '}', '${net0/ip}', '#', '#!ipxe',
  '||', '&&', ';', ' || shell', '\nshell\n', '\n:fetch\n', '"', "'", '\\', '\\\n', ':retry', 'goto fetch', 'initrd=evil.img', 'imgsrv.token=stolen',
  '--', '-', '--name', '--timeout=1', '-n', ',', 'a,b', 'http://198.18.0.1:8080/a b', 'http://x/%20', 'tftp://198.18.0.1/imgsrv/vmlinuz',
  'console=ttyS0,115200', 'é', '\u{1f600}', 'x'.repeat(300), '', 'KERNEL evil', 'APPEND', '=', 'a=b=c', '\x7f', '\x1b[2J',
];

const split = (b: Buffer): string[] => {
  const out: string[] = [];
  for (let s = 0, i = 0; i <= b.length; i++) if (i === b.length || b[i] === SEP) (out.push(b.toString('utf8', s, i)), (s = i + 1));
  return out;
};
const join = (fields: string[]): Buffer => Buffer.from(fields.join(String.fromCharCode(SEP)), 'utf8');

/** Substitute every placeholder in a word by its value. */
function fill(word: string, values: readonly string[]): string {
  let w = word;
  values.forEach((v, i) => (w = w.split(placeholder(i)).join(v)));
  return w;
}

/** Expected iPXE reading: the placeholder script's tokens, values in place, tags and expansion unchanged. */
function expectIpxe(benign: IpxeToken[][], values: readonly string[]): IpxeToken[][] {
  return benign.map((line) => line.map((t) => ({ ...t, word: fill(t.word, values) })));
}

function same(what: string, got: unknown, want: unknown): void {
  const [g, w] = [JSON.stringify(got), JSON.stringify(want)];
  if (g !== w) throw new Error(`${what}: a value changed the structure\n  got  ${g.slice(0, 600)}\n  want ${w.slice(0, 600)}`);
}

/** Everything each builder produced for one set of values (placeholders or fuzzed). */
interface Built {
  cmdline: string;
  ipxe: string;
  local: string;
  pxelinux: string;
}

function build(v: readonly string[], extra: readonly string[]): Built {
  const [server, token, mac, kernelUrl, initrdUrl, reason, efiUrl, pxeKernel, pxeInitrd] = v as [string, string, string, string, string, string, string, string, string];
  const params = { server, token, extra };
  return {
    cmdline: buildKernelCmdline({ ...params, mac, initrdName: 'initrd.img' }),
    ipxe: buildIpxeScript({ kernelUrl, initrdUrl }, { ...params, mac }),
    local: buildLocalBootIpxeScript(reason, efiUrl),
    pxelinux: buildPxelinuxConfig({ kernel: pxeKernel, initrd: pxeInitrd }, { ...params, mac }),
  };
}

/** Compare what the consumers read from the fuzzed outputs with the placeholder outputs, values in place. */
function check(got: Built, benign: Built, values: readonly string[]): void {
  same('kernel command line', linuxArgs(got.cmdline), linuxArgs(benign.cmdline).map((a) => fill(a, values)));
  // And as the node client reads it (the last occurrence of a key wins): our keys keep our values.
  const { args: seen } = parseCmdline(got.cmdline);
  same('node client parameters', [seen.get('imgsrv.server'), seen.get('imgsrv.token'), seen.get('initrd')], [values[0], values[1], 'initrd.img']);
  const ipxe = ipxeParse(got.ipxe);
  same('iPXE script', ipxe, expectIpxe(ipxeParse(benign.ipxe), values));
  const kernel = ipxe.find((l) => l[0]?.word === 'kernel')!;
  const args = kernel.slice(2, kernel.findIndex((t) => t.tag === 'OP')).map((t) => t.word);
  same('iPXE kernel arguments as Linux reads them', linuxArgs(args.join(' ')), args);
  // The local-boot reason is sanitised, not refused: its line must stay one echo of plain arguments.
  const local = ipxeParse(got.local);
  const localBenign = ipxeParse(benign.local);
  same('local-boot script lines', local.length, localBenign.length);
  localBenign.forEach((line, i) => {
    if (line.some((t) => t.word.includes(placeholder(REASON)))) {
      const shape = local[i]!.map((t, j) => (j === 0 ? `${t.tag} ${t.word}` : t.tag === 'ARG' && !t.expands ? 'ARG' : `${t.tag} ${t.word}`));
      same('local-boot echo', shape.filter((x) => x !== 'ARG'), ['CMD echo']);
    } else same(`local-boot line ${i}`, local[i], expectIpxe([line], values)[0]);
  });
  const pxe = pxelinuxParse(got.pxelinux);
  same('pxelinux config', pxe, pxelinuxParse(benign.pxelinux).map((l) => l.map((w) => fill(w, values))));
  const append = got.pxelinux.split('\n').find((l) => /^\s*APPEND /i.test(l))!.replace(/^\s*APPEND /i, '');
  same('pxelinux APPEND as Linux reads it', linuxArgs(append), linuxArgs(pxelinuxParse(benign.pxelinux).find((l) => l[0] === 'APPEND')!.slice(1).join(' ')).map((a) => fill(a, values)));
  values.forEach((v, i) => {
    if (values.some((_, j) => j !== i && v.includes(placeholder(j)))) throw new Error('a value holds another value\'s placeholder: the oracle cannot tell');
  });
}

function mutateFields(input: Buffer, rng: Rng): Buffer {
  const f = split(input);
  while (f.length < FIELDS.length) f.push(SEEDS[0]![f.length]!);
  const i = rng.below(f.length + 2);
  const hostile = rng.pick(HOSTILE);
  if (i >= f.length) f.push(hostile);
  else if (rng.chance(0.4)) f[i] = hostile;
  else {
    const at = rng.below(f[i]!.length + 1);
    f[i] = f[i]!.slice(0, at) + hostile + f[i]!.slice(at);
  }
  return join(f);
}

/** Valid-looking values: the corpus the mutations start from. */
const SEEDS: string[][] = [
  ['http://198.18.0.1:8080', 'tok_-123', MAC, 'http://198.18.0.1:8080/boot/files/vmlinuz', 'http://198.18.0.1:8080/boot/files/initrd.img', `${MAC} is installed with web@3`, 'http://198.18.0.1:8080/boot/files/localboot.efi', 'imgsrv/vmlinuz', 'imgsrv/initrd.img', 'console=ttyS0,115200', 'quiet'],
  ['http://[2001:db8::1]:8080', 'a', '52:54:00:00:00:02', 'tftp://198.18.0.1/imgsrv/vmlinuz', 'tftp://198.18.0.1/imgsrv/initrd.img', 'retired', 'tftp://198.18.0.1/imgsrv/localboot.efi', 'vmlinuz', 'initrd.img'],
];

/** The boot builders with hostile values. */
export const bootTarget: FuzzTarget = (() => {
  let store: Store | undefined;
  const node = (): Parameters<typeof nodeKernelArgs>[1] => store!.nodes.get(MAC)!;
  const groupPattern = new RegExp(KERNEL_ARG_PATTERN);
  return {
    name: 'boot-scripts',
    description: 'hostile values → kernel cmdline / iPXE / local-boot / pxelinux builders: BAD_CONFIG refusal or no injected line, command, option, expansion or argument',
    mix: { generate: 0.1, mutate: 0.6 },
    setup() {
      store = openStore(':memory:');
      store.groups.upsert('fuzz', { kernelArgs: [] });
      store.nodes.setGroup(MAC, 'fuzz');
    },
    seeds: () => SEEDS.map(join),
    generate: (rng) => join(Array.from({ length: FIELDS.length + rng.below(5) }, () => (rng.chance(0.5) ? rng.pick(SEEDS[0]!) : rng.pick(HOSTILE)))),
    mutate: (input, rng) => mutateFields(input, rng),
    exec(input): Verdict {
      const f = split(input);
      const values = FIELDS.map((_, i) => f[i] ?? SEEDS[0]![i]!);
      // Extra arguments: the config's (as given) then the group's (as the API would have stored them; it takes 32 at most).
      const rest = f.slice(FIELDS.length, FIELDS.length + 64);
      const base = rest.filter((_, i) => i % 2 === 0);
      store!.groups.upsert('fuzz', { kernelArgs: rest.filter((a, i) => i % 2 === 1 && groupPattern.test(a)) });
      const extra = nodeKernelArgs(store!, node(), base);
      const all = [...values, ...extra];
      // An empty MAC means "none" to buildKernelCmdline (pxelinux gets it from IPAPPEND): the placeholder run leaves it out too.
      const benign = build(values.map((v, i) => (i === MAC_FIELD && v === '' ? '' : placeholder(i))), extra.map((_, i) => placeholder(values.length + i)));
      let got: Built;
      try {
        got = build(values, extra);
      } catch (err) {
        if (err instanceof ImgsrvError && err.code === 'BAD_CONFIG') return rejected(err.message.replace(/for .*? contains/, 'for … contains').slice(0, 70));
        throw err;
      }
      check(got, benign, all);
      return ACCEPTED;
    },
    close() {
      store?.close();
      store = undefined;
    },
  };
})();
