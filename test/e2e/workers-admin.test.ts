/**
 * The admin listener with `workers: 2` (issue 14): the primary binds it and answers for the whole group —
 * `admin_port` on the one listening line, `/healthz` 200 then 503 from the drain on, `/readyz` 200 only when every
 * worker is ready and a 503 naming each worker that is not, `/metrics` one strict-parsed scrape whose request
 * counters sum exactly what both workers served, with the per-worker figures added up and build_info once.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageVersion } from '../../src/metrics/build-info.js';
import { parsePromText } from '../helpers/prom-text.js';
import { connectThrough, WORKLOAD_TOKEN } from '../helpers/proxy.js';
import { cliBuild, removeCliBuild, runCli, stopAllServes } from '../helpers/serve.js';
import {
  adminGet,
  type ServeStack,
  type ServeStackOptions,
  STACK_AGENT_TOKEN,
  startServeStack,
  until,
} from '../helpers/serve-stack.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';

const stacks: ServeStack[] = [];
const servers: Server[] = [];

beforeAll(() => cliBuild(), 120_000);
afterAll(removeCliBuild);
afterEach(async () => {
  await stopAllServes();
  await Promise.all(stacks.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function stack(opts: ServeStackOptions = {}): Promise<ServeStack> {
  const s = await startServeStack({
    ...opts,
    config: { workers: 2, admin: { listen: '127.0.0.1:0' }, ...opts.config },
  });
  stacks.push(s);
  return s;
}

type Rec = Record<string, unknown>;
const records = (lines: readonly string[]): Rec[] =>
  lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Rec];
    } catch {
      return [];
    }
  });
const adminPort = (s: ServeStack) => s.serve.listening.admin_port as number;

describe('admin with workers: 2', () => {
  it('serves /healthz, /readyz and one /metrics scrape summed over both workers', async () => {
    const s = await stack({ config: { log_level: 'debug' } });
    const port = adminPort(s);
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(s.serve.port);
    expect(s.serve.listening.workers).toBe(2);
    expect(records(s.serve.stderrLines).filter((r) => r.msg === 'listening')).toHaveLength(1);
    expect(await adminGet(port, '/healthz')).toMatchObject({ status: 200, body: '{"status":"serving"}\n' });
    await until(async () => (await adminGet(port, '/readyz')).status === 200);
    expect((await adminGet(port, '/readyz')).body).toBe('{"status":"ready"}\n');

    const ca = await readFile(join(s.caDir, 'ca.crt'), 'utf8');
    const n = 30;
    for (let i = 0; i < n; i++) {
      const res = await httpsRequestThrough(
        s.serve.port,
        `localhost:${s.up.port}`,
        { path: `/m-${i}` },
        { ca },
      );
      expect(res.status).toBe(200);
    }
    // The primary counts each event before its sink writes it: once N lines are out, the tally holds N.
    const audited = () =>
      records(s.serve.stdoutLines).filter((r) => r.event === 'request' && String(r.path).startsWith('/m-'));
    await until(() => audited().length >= n);
    const byWorker = new Set(audited().map((e) => /^(w\d+)c\d+$/.exec(String(e.conn_id))?.[1]));
    expect(byWorker.has(undefined)).toBe(false);
    expect(byWorker.size).toBe(2);

    const res = await adminGet(port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const prom = parsePromText(res.body);
    const sum = (name: string) =>
      prom.samples.filter((x) => x.name === name).reduce((a, x) => a + x.value, 0);
    expect(sum('clef_proxy_requests_total')).toBe(n);
    expect(
      prom.value('clef_proxy_requests_total', { service: 'echo', decision: 'inject', status_class: '2xx' }),
    ).toBe(n);
    expect(prom.value('clef_proxy_request_duration_seconds_count', { decision: 'inject' })).toBe(n);
    // One new connection per request, so one leaf lookup each, spread over the workers' own caches: the figures
    // asked of each worker add up to N lookups, and each worker holds its own leaf for the one host.
    expect(sum('clef_proxy_leaf_cache_hits_total') + sum('clef_proxy_leaf_cache_misses_total')).toBe(n);
    expect(sum('clef_proxy_leaf_cache_misses_total')).toBe(2);
    expect(prom.value('clef_proxy_leaf_cache_size')).toBe(2);
    const build = prom.samples.filter((x) => x.name === 'clef_proxy_build_info');
    expect(build).toEqual([
      { name: 'clef_proxy_build_info', labels: { version: packageVersion() }, value: 1 },
    ]);
    expect(prom.value('clef_proxy_audit_events_dropped_total')).toBe(0);
    expect(prom.types.get('clef_proxy_request_duration_seconds')).toBe('histogram');
    expect(res.body).not.toContain('fleet-secret-value');
    expect(res.body).not.toContain(WORKLOAD_TOKEN);

    // A supervisor polling /readyz (each poll a round trip to every worker) is not traffic: the primary still
    // gives memory back once the requests have stopped (12–18 s later).
    let polling = true;
    const poll = (async () => {
      while (polling) {
        expect((await adminGet(port, '/readyz')).status).toBe(200);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    try {
      await s.serve.waitForLog(
        (r) => r.msg === 'quiet spell: memory trimmed' && r.role === 'primary',
        40_000,
      );
    } finally {
      polling = false;
      await poll;
    }
  }, 120_000);

  it('answers /readyz 503 naming every worker whose agent went quiet, and 200 again when it is back', async () => {
    const s = await stack({ agent: { services_refresh_ms: 100 } });
    const port = adminPort(s);
    await until(async () => (await adminGet(port, '/readyz')).status === 200);
    // Every agent endpoint the proxy polls must fail: any answer counts as contact.
    await s.agent.setMode({ services: 'fail', identities: 'fail' });
    let body: Rec = {};
    await until(async () => {
      const r = await adminGet(port, '/readyz');
      body = r.status === 503 ? (JSON.parse(r.body) as Rec) : {};
      return Array.isArray(body.workers) && body.workers.length === 2;
    }, 60_000);
    expect(body).toMatchObject({ status: 'not_ready', reason: 'workers_not_ready' });
    expect(String(body.detail)).toContain('2 of 2 workers not ready');
    const workers = body.workers as Rec[];
    for (const w of workers) {
      expect(w.reason).toBe('agent_stale');
      expect(String(w.detail)).toContain('the agent last answered');
      expect(w.pid).toBeGreaterThan(0);
    }
    expect(new Set(workers.map((w) => w.worker)).size).toBe(2);
    expect((await adminGet(port, '/healthz')).status).toBe(200);
    await s.agent.setMode({ services: 'ok', identities: 'ok' });
    await until(async () => (await adminGet(port, '/readyz')).status === 200, 60_000);
  }, 120_000);

  it('answers 503 on /healthz and /readyz while draining, then exits 0', async () => {
    // A blind tunnel to a server that holds the connection keeps one worker, and so the drain, busy.
    const hold = createServer((c) => c.on('error', () => {}));
    await new Promise<void>((r) => hold.listen(0, '127.0.0.1', r));
    servers.push(hold);
    const target = `127.0.0.1:${(hold.address() as { port: number }).port}`;
    const s = await stack({ config: { passthrough_hosts: [target], drain_timeout_ms: 60_000 } });
    const port = adminPort(s);
    const tunnel = await connectThrough(s.serve.port, target);
    tunnel.socket.on('error', () => {});
    expect(tunnel.status).toBe(200);
    s.serve.kill('SIGTERM');
    await s.serve.waitForLog((r) => r.msg === 'draining');
    expect(await adminGet(port, '/healthz')).toMatchObject({ status: 503, body: '{"status":"draining"}\n' });
    const ready = await adminGet(port, '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'not_ready', reason: 'draining' });
    tunnel.socket.destroy();
    expect(await s.serve.exit).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('exits 6 when the admin port is taken, before any worker starts', async () => {
    const s = await startServeStack();
    stacks.push(s);
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    const taken = (server.address() as { port: number }).port;
    const path = join(s.dir, 'taken.json');
    await writeFile(
      path,
      JSON.stringify({ ...s.config, workers: 2, admin: { listen: `127.0.0.1:${taken}` } }),
    );
    const run = await runCli(['serve', '--config', path], {
      env: {
        CLEF_PROXY_AGENT_TOKEN: STACK_AGENT_TOKEN,
        CLEF_PROXY_TOKEN: WORKLOAD_TOKEN,
        CLEF_PROXY_CA_DIR: s.caDir,
      },
    });
    expect(run.code).toBe(6);
    expect(run.stderr).toContain(`clef-proxy: admin listen failed: 127.0.0.1:${taken}: EADDRINUSE`);
  }, 60_000);
});
