import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSignature, type ImageSignature } from '../../images/signing.ts';
import type { DeployPlan, RestorePlan } from '../../contract/plan.ts';

/** A plan as the API sends it, any action: its fields read without narrowing. */
type PlanJson = Pick<DeployPlan, 'action'> & Partial<Omit<RestorePlan, 'action'>> & { reason?: string; retryAfterSec?: number };
import { TEST_ADMIN, nodeAuth, testApp, type TestApp } from '../api/testdata/app.ts';
import { generateKeyFiles, signingPaths } from './signer.ts';

const admin = { authorization: `Bearer ${TEST_ADMIN}` };

describe('image signing on the server', () => {
  let t: TestApp;
  let pub: string;
  beforeAll(async () => {
    t = await testApp({ versions: 1, signing: true });
    pub = readFileSync(signingPaths(t.dir).pub, 'utf8');
  });
  afterAll(async () => t.close());

  const verify = async (v: number) => (await t.app.inject({ method: 'POST', url: `/api/v1/images/web/${v}/verify`, headers: admin })).json() as { ok: boolean; problems: string[] };

  it('signs a version at publish, and hands the signature to nodes in their plan', async () => {
    const sig = t.images.signature('web', 1)!;
    expect(sig.alg).toBe('ed25519');
    expect(checkSignature(t.images.meta('web', 1), sig, [pub])).toMatchObject({ ok: true });
    await t.app.inject({ method: 'PUT', url: '/api/v1/deploy', headers: admin, payload: { image: 'web' } });
    const plan = (await t.app.inject({ url: '/api/v1/nodes/52:54:00:00:05:01/plan', headers: nodeAuth('52:54:00:00:05:01') })).json() as PlanJson;
    expect(plan.signature).toEqual(sig);
    // The node checks the meta as the plan carries it (after a JSON round trip).
    expect(checkSignature(plan.meta!, plan.signature, [pub])).toMatchObject({ ok: true });
    const list = (await t.app.inject({ url: '/api/v1/images', headers: admin })).json() as Array<{ signedBy: string | null }>;
    expect(list[0]?.signedBy).toBe(sig.keyId);
    expect(await verify(1)).toEqual({ ok: true, problems: [] });
  });

  it('verify names a bad or missing signature; sign mends it', async () => {
    const file = join(t.images.dir('web', 1), 'meta.sig');
    const good = JSON.parse(readFileSync(file, 'utf8')) as ImageSignature;
    writeFileSync(file, JSON.stringify({ ...good, sig: Buffer.alloc(64, 1).toString('base64') }));
    expect((await verify(1)).problems).toEqual([expect.stringMatching(/^meta\.sig: the signature by key \w+ does not match/)]);
    const signed = await t.app.inject({ method: 'POST', url: '/api/v1/images/web/1/sign', headers: admin });
    expect(signed.json()).toMatchObject({ keyId: good.keyId });
    expect(await verify(1)).toMatchObject({ ok: true });
  });

  it('refuses to replace a key unless forced', () => {
    expect(() => generateKeyFiles(t.dir)).toThrow(/already exists/);
  });
});

describe('image signing not configured', () => {
  it('publishes unsigned, plans carry null, sign asks for a key', async () => {
    const t = await testApp({ versions: 1 });
    try {
      expect(t.images.signature('web', 1)).toBeNull();
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/images/web/1/sign', headers: admin });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(/imgsrv keys generate/);
    } finally {
      await t.close();
    }
  });
});
