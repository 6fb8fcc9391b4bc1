/**
 * `workers: N` (issue 14): the built CLI with node:cluster workers behind one listening socket. One `listening`
 * line with the real port (port 0), requests served by several workers (audit `conn_id` prefixed `w<id>`), every
 * request audited exactly once by the primary, a SIGKILLed worker restarted with nothing audited twice and no
 * completed request unaudited (its event leaves before the response's last byte), SIGTERM
 * drains to exit 0; `workers: 1` keeps the single process (plain `c<n>` ids).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectThrough } from '../helpers/proxy.js';
import { cliBuild, removeCliBuild, stopAllServes } from '../helpers/serve.js';
import { adminGet, type ServeStack, startServeStack, until } from '../helpers/serve-stack.js';
import { httpsRequestThrough, openTlsThrough } from '../helpers/tls-client.js';

const stacks: ServeStack[] = [];

beforeAll(() => cliBuild(), 120_000);
afterAll(removeCliBuild);
afterEach(async () => {
  await stopAllServes();
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

type Rec = Record<string, unknown>;
const records = (lines: readonly string[]): Rec[] =>
  lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Rec];
    } catch {
      return [];
    }
  });
/** Request audit events by path marker, from the primary's stdout sink. */
const audited = (s: ServeStack, marker: string) =>
  records(s.serve.stdoutLines).filter((r) => r.event === 'request' && String(r.path).includes(marker));

/** Which of `pids` holds the proxy's end of the loopback connection from `clientPort` (Linux `/proc`). */
function socketOwner(pids: readonly number[], proxyPort: number, clientPort: number): number | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  const line = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[1] === `0100007F:${hex(proxyPort)}` && f[2] === `0100007F:${hex(clientPort)}`);
  const link = `socket:[${line?.[9]}]`;
  return pids.find((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`) === link;
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

async function get(s: ServeStack, ca: string, path: string): Promise<number> {
  const res = await httpsRequestThrough(s.serve.port, `localhost:${s.up.port}`, { path }, { ca });
  return res.status;
}

describe('serve with workers', () => {
  it('workers: 2 on port 0: one listening line, both workers serve, each request audited once', async () => {
    const s = await startServeStack({ config: { workers: 2, log_level: 'debug' } });
    stacks.push(s);
    const ca = await readFile(join(s.caDir, 'ca.crt'), 'utf8');
    expect(s.serve.port).toBeGreaterThan(0);
    const n = 40;
    for (let i = 0; i < n; i++) expect(await get(s, ca, `/w2-${i}`)).toBe(200);
    await until(() => audited(s, '/w2-').length >= n);
    const events = audited(s, '/w2-');
    expect(events).toHaveLength(n);
    expect(new Set(events.map((e) => e.path)).size).toBe(n);
    const workers = new Set(events.map((e) => /^(w\d+)c\d+$/.exec(String(e.conn_id))?.[1]));
    expect(workers.has(undefined)).toBe(false);
    expect(workers.size).toBe(2);
    expect(records(s.serve.stderrLines).filter((r) => r.msg === 'listening')).toHaveLength(1);
    // Once the requests stop, the primary and the workers each give memory back (12–18 s later).
    await s.serve.waitForLog((r) => r.msg === 'quiet spell: memory trimmed' && r.role === 'primary', 30_000);
    await s.serve.waitForLog((r) => r.msg === 'quiet spell: memory trimmed' && r.role === undefined, 30_000);

    s.serve.kill('SIGTERM');
    expect(await s.serve.exit).toEqual({ code: 0, signal: null });
    expect(records(s.serve.stderrLines).some((r) => r.msg === 'stopped')).toBe(true);
  }, 120_000);

  it('restarts a SIGKILLed worker; every completed request is audited exactly once and later ones succeed', async () => {
    const s = await startServeStack({ config: { workers: 2 } });
    stacks.push(s);
    const ca = await readFile(join(s.caDir, 'ca.crt'), 'utf8');
    // Learn a worker pid from the primary's children: the first audited conn id names the worker.
    expect(await get(s, ca, '/warm')).toBe(200);
    const { execFileSync } = await import('node:child_process');
    const pids = execFileSync('pgrep', ['-P', String(s.serve.child.pid)])
      .toString()
      .trim()
      .split('\n');
    expect(pids.length).toBe(2);

    const done: string[] = [];
    let completed = 0;
    let stop = false;
    // Four clients at once, so the kill lands while requests are in flight on the dying worker.
    const lanes = 4;
    const lane = async (l: number) => {
      for (let i = 0; !stop; i++) {
        const path = `/kill-${l}-${i}`;
        try {
          // A connection node:cluster handed to the worker as it died can hang rather than reset: give up on it
          // (generously) and count it as not completed, as a client with a timeout would.
          const status = await Promise.race([
            get(s, ca, path),
            new Promise<number>((r) => setTimeout(() => r(0), 5_000)),
          ]);
          if (status === 200) {
            completed++;
            done.push(path);
          }
        } catch {
          // The request on the killed worker's connection fails; it was never completed.
        }
      }
    };
    const loop = Promise.all(Array.from({ length: lanes }, (_v, l) => lane(l)));
    await until(() => completed >= 5);
    process.kill(Number(pids[0]), 'SIGKILL');
    const died = await s.serve.waitForLog((r) => r.msg === 'worker died; restarting', 20_000);
    expect(died.signal).toBe('SIGKILL');
    const before = completed;
    await until(() => completed >= before + 20, 60_000);
    stop = true;
    await loop;

    // An event is sent before its response's last byte: every response a client received whole is audited, and
    // each lane's request cut off by the kill at most once more (its event may have left just before).
    const missing = () => {
      const seen = new Set(audited(s, '/kill-').map((e) => e.path));
      return done.filter((p) => !seen.has(p));
    };
    await until(() => missing().length === 0, 10_000).catch(() => {});
    expect(missing()).toEqual([]);
    const paths = audited(s, '/kill-').map((e) => e.path);
    expect(new Set(paths).size).toBe(paths.length); // never twice
    expect(paths.length).toBeLessThanOrEqual(completed + lanes);

    s.serve.kill('SIGTERM');
    expect(await s.serve.exit).toEqual({ code: 0, signal: null });
  }, 120_000);

  it.skipIf(process.platform !== 'linux')(
    'a worker SIGKILLed the instant its client has the whole response has already sent that audit event',
    async () => {
      const s = await startServeStack({ config: { workers: 2, admin: { listen: '127.0.0.1:0' } } });
      stacks.push(s);
      const adminPort = Number(s.serve.listening.admin_port);
      const ca = await readFile(join(s.caDir, 'ca.crt'), 'utf8');
      const { execFileSync } = await import('node:child_process');
      const workerPids = () =>
        execFileSync('pgrep', ['-P', String(s.serve.child.pid)])
          .toString()
          .trim()
          .split('\n')
          .map(Number);
      const target = `localhost:${s.up.port}`;
      for (let round = 0; round < 3; round++) {
        // Both workers forked and listening (`/readyz` says `starting` until a worker is bound): killing the only
        // bound one would close the shared socket until its replacement binds.
        await until(
          async () => workerPids().length === 2 && (await adminGet(adminPort, '/readyz')).status === 200,
        );
        const opened = await openTlsThrough(s.serve.port, target, { ca });
        await opened.secure;
        // The worker that accepted this connection: the one holding the proxy's end of it.
        const owner = socketOwner(workerPids(), s.serve.port, opened.raw.localPort!);
        expect(owner).toBeDefined();
        const path = `/last-byte-${round}`;
        let text = '';
        let killed = false;
        opened.tls.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          const head = text.indexOf('\r\n\r\n');
          const length = /\r\ncontent-length: *(\d+)/i.exec(text)?.[1];
          if (killed || head < 0 || length === undefined) return;
          if (Buffer.byteLength(text.slice(head + 4), 'latin1') < Number(length)) return;
          // The whole response is here: kill its worker before anything else can run there.
          killed = true;
          process.kill(owner!, 'SIGKILL');
        });
        opened.tls.write(`GET ${path} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
        await until(() => killed);
        opened.tls.destroy();
        expect(text.startsWith('HTTP/1.1 200')).toBe(true);
        await s.serve.waitForLog((r) => r.msg === 'worker died; restarting' && r.pid === owner, 20_000);
        // Sent before the response's last byte, so the primary has it although the worker died at once.
        await until(() => audited(s, path).length >= 1, 5_000).catch(() => {});
        expect(audited(s, path).map((e) => e.status)).toEqual([200]);
      }
      s.serve.kill('SIGTERM');
      expect(await s.serve.exit).toEqual({ code: 0, signal: null });
    },
    120_000,
  );

  it('a second SIGTERM during the drain ends at once with exit 0', async () => {
    // A slow upstream keeps a request in flight, so the drain is still running when the second signal comes.
    const s = await startServeStack({
      config: { workers: 2, drain_timeout_ms: 60_000 },
      handler: () => {},
    });
    stacks.push(s);
    const ca = await readFile(join(s.caDir, 'ca.crt'), 'utf8');
    const inflight = get(s, ca, '/slow').catch(() => 0);
    await until(() => s.up.received.length > 0);
    s.serve.kill('SIGTERM');
    await s.serve.waitForLog((r) => r.msg === 'draining', 20_000);
    s.serve.kill('SIGTERM');
    expect(await s.serve.exit).toEqual({ code: 0, signal: null });
    expect(records(s.serve.stderrLines).some((r) => r.msg === 'stopping now')).toBe(true);
    await inflight;
  }, 120_000);

  it('SIGHUP reaches every worker: a passthrough host added to the file is tunnelled by all of them', async () => {
    const s = await startServeStack({ config: { workers: 2 } });
    stacks.push(s);
    const added = `127.0.0.1:${s.up.port}`;
    const refused = await connectThrough(s.serve.port, added);
    expect(refused.status).toBe(403);
    refused.socket.destroy();
    await s.writeConfig({ ...s.config, passthrough_hosts: [added] });
    const from = s.serve.stderrLines.length;
    s.serve.kill('SIGHUP');
    // The primary and both workers each log the reload; workers carry their `worker` number.
    await until(
      () =>
        records(s.serve.stderrLines.slice(from)).filter(
          (r) => r.msg === 'config reloaded' && r.worker !== undefined,
        ).length >= 2,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${s.serve.stderrLines.slice(from).join('\n')}`);
    });
    const conns: string[] = [];
    for (let i = 0; i < 6; i++) {
      const open = await connectThrough(s.serve.port, added);
      expect(open.status).toBe(200);
      open.socket.destroy();
    }
    await until(() => {
      conns.splice(0);
      for (const r of records(s.serve.stdoutLines))
        if (r.event === 'tunnel') conns.push(/^(w\d+)c/.exec(String(r.conn_id))?.[1] ?? '');
      return conns.length >= 6;
    });
    expect(new Set(conns).size).toBe(2);
  }, 120_000);

  it('workers: 1 stays a single process with plain connection ids', async () => {
    const s = await startServeStack({ config: { workers: 1 } });
    stacks.push(s);
    const ca = await readFile(join(s.caDir, 'ca.crt'), 'utf8');
    expect(await get(s, ca, '/one')).toBe(200);
    const ev = await s.serve.waitForAudit((e) => e.event === 'request');
    expect(ev.conn_id).toMatch(/^c\d+$/);
    expect(s.serve.listening.workers).toBeUndefined();
    s.serve.kill('SIGTERM');
    expect(await s.serve.exit).toEqual({ code: 0, signal: null });
  }, 60_000);
});
