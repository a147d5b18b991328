/**
 * Load the config: file (YAML or JSON) → flags override → schema validation.
 * Only the CLI calls this; services receive the typed result.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ImgsrvError } from '../../core/errors.ts';
import { configSchema, type Config } from './schema.ts';

/** A partial, unvalidated config tree (what a file or the flags provide). */
export type RawConfig = Record<string, unknown>;

/** Read and parse a config file; a syntax error names the file and line. */
export function readConfigFile(path: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ImgsrvError('BAD_CONFIG', `cannot read config file ${path}: ${(err as Error).message}`, { hint: 'check the --config path' });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0];
    throw new ImgsrvError('BAD_CONFIG', `config file ${path} is not valid YAML/JSON: ${first}`, { hint: 'fix the syntax at that line' });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ImgsrvError('BAD_CONFIG', `config file ${path} must contain a mapping of keys`, { hint: 'see the README for an example config' });
  }
  return doc as RawConfig;
}

/** Deep-merge `over` onto `base` (objects merge, everything else replaces). */
export function mergeConfig(base: RawConfig, over: RawConfig): RawConfig {
  const out: RawConfig = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? mergeConfig(b, v) : v;
  }
  return out;
}

const isPlainObject = (v: unknown): v is RawConfig => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validate a raw config; the first problem becomes one error naming its key path. */
export function validateConfig(raw: RawConfig, source = 'config'): Config {
  const res = configSchema.safeParse(raw);
  if (res.success) return res.data;
  throw new ImgsrvError('BAD_CONFIG', `${source}: ${describeIssues(res.error.issues)}`, { hint: 'fix the key named above (see README, Configuration)' });
}

function describeIssues(issues: z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 3)
    .map((i) => {
      const path = i.path.map(String).join('.') || '(top level)';
      if (i.code === 'unrecognized_keys') {
        const keys = i.keys.map((k) => (path === '(top level)' ? k : `${path}.${k}`));
        return `unknown key ${keys.join(', ')}`;
      }
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/** File (optional) + flag overrides → validated Config. */
export function loadConfig(opts: { file?: string | undefined; overrides?: RawConfig }): Config {
  const fromFile = opts.file ? readConfigFile(opts.file) : {};
  return validateConfig(mergeConfig(fromFile, opts.overrides ?? {}), opts.file ?? 'config');
}
