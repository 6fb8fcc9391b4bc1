/**
 * Invariant: upstream TLS is always verified (SPEC §3 "there is no switch that turns upstream verification off",
 * §6 `upstream_tls_error`). In-process here: an untrusted or misnamed upstream certificate is 502
 * `upstream_tls_error` with zero requests received, also with `NODE_TLS_REJECT_UNAUTHORIZED=0` in this process's
 * environment; plus a static check over src/. The same against a spawned `serve` is in serve-process.test.ts.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../src/audit/events.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const SRC = join(import.meta.dirname, '../../src');
const SECRET = 'tls-secret-e03b7d';

let proxy: TestProxy | undefined;
let up: TestUpstream | undefined;
const savedEnv = process.env.NODE_TLS_REJECT_UNAUTHORIZED;

afterEach(async () => {
  await proxy?.close();
  await up?.close();
  proxy = undefined;
  up = undefined;
  if (savedEnv === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  else process.env.NODE_TLS_REJECT_UNAUTHORIZED = savedEnv;
});

async function requestTo(cert: 'trusted' | 'untrusted', host: string) {
  up = await startUpstream({ cert });
  const target = `${host}:${up.port}`;
  proxy = await startTestProxy({
    services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
    secrets: { K: SECRET },
  });
  const res = await httpsRequestThrough(proxy.port, target, { path: '/x' }, { ca: proxy.proxy.caCertPem });
  const [ev] = (await proxy.waitForEvents(1)) as RequestEvent[];
  return { res, ev: ev! };
}

describe('upstream TLS is always verified', () => {
  it('baseline: the fixture upstream, signed by the extra root, is accepted', async () => {
    const { res } = await requestTo('trusted', 'api.upstream.test');
    expect(res.status).toBe(200);
    expect(up!.received).toHaveLength(1);
  });

  it.each([
    ['a self-signed certificate', 'untrusted' as const, 'api.upstream.test'],
    ['a trusted certificate for another name', 'trusted' as const, 'not-in-san.test'],
  ])('%s: 502 upstream_tls_error, zero requests received', async (_label, cert, host) => {
    const { res, ev } = await requestTo(cert, host);
    expect(res.status).toBe(502);
    expect(res.headers['x-clef-proxy-error']).toBe('upstream_tls_error');
    expect(up!.received).toHaveLength(0);
    expect(ev).toMatchObject({ decision: 'inject', reason: 'upstream_tls_error', status: 502 });
  });

  it('NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment changes nothing', async () => {
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    const { res } = await requestTo('untrusted', 'api.upstream.test');
    expect(res.status).toBe(502);
    expect(res.headers['x-clef-proxy-error']).toBe('upstream_tls_error');
    expect(up!.received).toHaveLength(0);
  });
});

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('static: nothing in src/ can turn verification off', () => {
  it('every rejectUnauthorized in src/ is `true`, and there is at least the one in the upstream dialer', async () => {
    const hits: string[] = [];
    for (const file of await sourceFiles(SRC)) {
      const text = await readFile(file, 'utf8');
      for (const m of text.matchAll(/rejectUnauthorized\s*[:=]\s*([^,;\n}]+)/g))
        hits.push(`${file}: ${m[1]!.trim()}`);
      // Any other spelling (a spread, a computed value, a property read) would escape the check above.
      const all = text.match(/rejectUnauthorized/g)?.length ?? 0;
      const assigned = [...text.matchAll(/rejectUnauthorized\s*[:=]/g)].length;
      expect(all, `${file} mentions rejectUnauthorized outside an assignment`).toBe(assigned);
    }
    expect(hits.length).toBeGreaterThan(0);
    for (const hit of hits) expect(hit).toMatch(/: true$/);
  });

  it('src/ never reads NODE_TLS_REJECT_UNAUTHORIZED, overrides checkServerIdentity, or uses node:https', async () => {
    for (const file of await sourceFiles(SRC)) {
      const code = (await readFile(file, 'utf8')).replace(/^\s*(\/\/|\*).*$/gm, '');
      expect(code, file).not.toMatch(/NODE_TLS_REJECT_UNAUTHORIZED/);
      expect(code, file).not.toMatch(/checkServerIdentity\s*:/);
      expect(code, file).not.toMatch(/from 'node:https'/);
    }
  });

  it('the only client TLS connect in src/ is the verified dialer', async () => {
    const connecting: string[] = [];
    for (const file of await sourceFiles(SRC)) {
      const code = await readFile(file, 'utf8');
      if (/import\s*\{[^}]*\bconnect\b[^}]*\}\s*from 'node:tls'/.test(code)) connecting.push(file);
    }
    expect(connecting).toEqual([join(SRC, 'upstream/dial.ts')]);
  });
});
