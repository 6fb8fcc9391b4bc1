// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the config spells the ${NAME} header syntax
/**
 * Audit shipping through the real `clef-proxy serve` (docs/audit.md): stdout plus a webhook at once, the webhook's
 * headers resolved from the environment, a dead webhook that costs stdout nothing, the SIGTERM flush within
 * drain_timeout_ms, and the `stopped` line counting what could not be sent.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/events.js';
import { type AuditReceiver, startAuditReceiver } from '../helpers/audit-receiver.js';
import { startFixtureAgent } from '../helpers/fixture-agent.js';
import { validateOtlpLogs } from '../helpers/otlp-validate.js';
import { connectThrough, WORKLOAD_TOKEN } from '../helpers/proxy.js';
import { cliBuild, removeCliBuild, runCli, spawnServe, stopAllServes } from '../helpers/serve.js';
import { fixturePath } from '../helpers/upstream.js';

const AGENT_TOKEN = 'e2e-ship-agent-token';
const SIEM_TOKEN = 'siem-5ecret-e2e';
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(() => cliBuild(), 120_000);
afterAll(removeCliBuild);
afterEach(async () => {
  await stopAllServes();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(opts: Parameters<typeof startAuditReceiver>[0] = {}): Promise<AuditReceiver> {
  const r = await startAuditReceiver(opts);
  cleanups.push(() => r.close());
  return r;
}

async function serveWith(audit: unknown, extra: Record<string, unknown> = {}) {
  const agent = await startFixtureAgent({ token: AGENT_TOKEN, data: { services: [], secrets: {} } });
  cleanups.push(() => agent.stop());
  return spawnServe({
    config: {
      listen: '127.0.0.1:0',
      agent: { url: agent.url },
      upstream_ca_file: fixturePath('ca.crt'),
      audit,
      ...extra,
    },
    env: {
      CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN,
      CLEF_PROXY_TOKEN: WORKLOAD_TOKEN,
      SIEM_TOKEN,
    },
  });
}

/** One refused CONNECT: one `deny` audit event. */
async function deny(port: number, n: number): Promise<void> {
  const t = await connectThrough(port, `denied-${n}.example:443`);
  t.socket.destroy();
  expect(t.status).toBe(403);
}

const stoppedLine = (r: Record<string, unknown>) => r.msg === 'stopped';

describe('serve with stdout and a webhook', () => {
  it('ships every event to stdout, a webhook and OTLP, with env-resolved headers, nothing unsent', async () => {
    const r = await receiver();
    const otlp = await receiver({ path: '', validate: (body) => void validateOtlpLogs(body) });
    const serve = await serveWith([
      { sink: 'stdout' },
      { sink: 'webhook', url: r.url, headers: { Authorization: 'Bearer ${SIEM_TOKEN}' }, flush_ms: 50 },
      { sink: 'otlp', endpoint: otlp.url, headers: { 'x-key': '$SIEM_TOKEN' }, flush_ms: 50 },
    ]);
    for (let i = 0; i < 3; i++) await deny(serve.port, i);
    await r.waitAccepted(1);
    serve.kill('SIGTERM');
    expect(await serve.exit).toEqual({ code: 0, signal: null });

    const shipped = r
      .accepted()
      .flatMap((b) => b.toString().split('\n').filter(Boolean))
      .map((l) => JSON.parse(l) as AuditEvent);
    expect(shipped.map((e) => e.host)).toEqual(['denied-0.example', 'denied-1.example', 'denied-2.example']);
    expect(serve.stdoutLines.map((l) => JSON.parse(l).host)).toEqual(shipped.map((e) => e.host));
    for (const b of r.batches) expect(b.headers.authorization).toBe(`Bearer ${SIEM_TOKEN}`);
    const records = otlp.accepted().flatMap((b) => validateOtlpLogs(b));
    expect(records.map((x) => JSON.parse(x.body).host)).toEqual(shipped.map((e) => e.host));
    for (const b of otlp.batches)
      expect(b).toMatchObject({ url: '/v1/logs', headers: { 'x-key': SIEM_TOKEN } });

    const stopped = await serve.waitForLog(stoppedLine);
    expect(stopped).toMatchObject({ audit_unsent: 0, audit_dropped: 0, audit_written: 9 });
    expect(stopped.audit_sinks).toEqual([
      { sink: 'stdout', written: 3, dropped: 0, queued: 0 },
      { sink: 'webhook', written: 3, dropped: 0, queued: 0 },
      { sink: 'otlp', written: 3, dropped: 0, queued: 0 },
    ]);
    expect(serve.stderrLines.join('\n')).not.toContain(SIEM_TOKEN);
  });

  it('a dead webhook costs stdout nothing; SIGTERM exits by drain_timeout_ms and counts the unsent', async () => {
    const r = await receiver();
    r.script(...Array(1000).fill({ status: 503 }));
    const serve = await serveWith([{ sink: 'webhook', url: r.url, flush_ms: 20 }, { sink: 'stdout' }], {
      drain_timeout_ms: 1500,
    });
    for (let i = 0; i < 4; i++) await deny(serve.port, i);
    await serve.waitForAudit((e) => e.host === 'denied-3.example');
    await serve.waitForLog((l) => l.msg === 'audit write failed' && l.sink === 'webhook');

    serve.kill('SIGTERM');
    expect(await serve.exit).toEqual({ code: 0, signal: null });
    const stopped = await serve.waitForLog(stoppedLine);
    expect(stopped).toMatchObject({ level: 40, audit_unsent: 4, audit_written: 4 });
    expect(stopped.audit_sinks).toEqual([
      { sink: 'webhook', written: 0, dropped: 0, queued: 4 },
      { sink: 'stdout', written: 4, dropped: 0, queued: 0 },
    ]);
    expect(r.accepted()).toHaveLength(0);
    expect(serve.stdoutLines).toHaveLength(4);
  });

  it('a second signal gives up on a dead webhook at once and counts what it held', async () => {
    const r = await receiver();
    r.script(...Array(1000).fill({ status: 503 }));
    // A drain this long would outlast the test: only the second signal can end it in time.
    const serve = await serveWith([{ sink: 'webhook', url: r.url, flush_ms: 20 }], {
      drain_timeout_ms: 600_000,
    });
    for (let i = 0; i < 2; i++) await deny(serve.port, i);
    await serve.waitForLog((l) => l.msg === 'audit write failed');
    serve.kill('SIGTERM');
    await serve.waitForLog((l) => l.msg === 'draining');
    serve.kill('SIGTERM');
    expect(await serve.exit).toEqual({ code: 0, signal: null });
    const stopped = await serve.waitForLog(stoppedLine);
    expect(stopped).toMatchObject({ audit_unsent: 2, audit_written: 0 });
  });

  it('a header naming an unset variable is exit 2, naming it and no value', async () => {
    const agent = await startFixtureAgent({ token: AGENT_TOKEN, data: { services: [], secrets: {} } });
    cleanups.push(() => agent.stop());
    const { writeFile, mkdtemp } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'clef-ship-e2e-'));
    const path = join(dir, 'config.json');
    await writeFile(
      path,
      JSON.stringify({
        listen: '127.0.0.1:0',
        agent: { url: agent.url },
        audit: { sink: 'webhook', url: 'https://siem.example/in', headers: { 'X-Key': '$NOT_SET_ANYWHERE' } },
      }),
    );
    const run = await runCli(['serve', '--config', path], {
      env: { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN, CLEF_PROXY_TOKEN: WORKLOAD_TOKEN },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('audit.headers["X-Key"]: environment variable NOT_SET_ANYWHERE is not set');
  });
});
