/**
 * The audit file becoming unwritable while the proxy serves (SPEC §8 "a fault in one connection closes that
 * connection only", §10): the directory is removed (as root, chmod would not stop the writes), requests keep
 * being answered, the events lost are counted by the sink and reported as `audit write failed` errors on the
 * operational log (wired exactly as `cli/serve.ts` does), and once the directory is back, events land again.
 * The sink on its own is covered by test/integration/audit-file.test.ts; this is the whole proxy around it.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createStaticSource } from '../../src/agent/static-source.js';
import { createAuditSink } from '../../src/audit/create-sink.js';
import { createLogger } from '../../src/log/logger.js';
import { type RunningProxy, startProxy } from '../../src/proxy.js';
import { WORKLOAD_TOKEN } from '../helpers/proxy.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import {
  FIXTURE_CA_PEM,
  lookupTo,
  startUpstream,
  TEST_ALLOW_PRIVATE,
  type TestUpstream,
} from '../helpers/upstream.js';

let dir: string | undefined;
let proxy: RunningProxy | undefined;
let upstream: TestUpstream | undefined;

afterEach(async () => {
  await proxy?.close();
  await upstream?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  proxy = upstream = dir = undefined;
});

describe('audit file unwritable mid-run', () => {
  it('keeps serving, counts the dropped events, logs an error, and writes again once the directory is back', async () => {
    dir = await mkdtemp(join(tmpdir(), 'clef-hardening-audit-'));
    const logDir = join(dir, 'logs');
    const path = join(logDir, 'audit.log');
    await mkdir(logDir);
    const log: Array<Record<string, unknown>> = [];
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const line of chunk.toString('utf8').split('\n')) if (line) log.push(JSON.parse(line));
          done();
        },
      }),
    );
    const audit = createAuditSink(
      { sink: 'file', path, maxBytes: 10 * 1024 * 1024, maxFiles: 2 },
      { onError: (err: Error) => logger.error({ err: err.message }, 'audit write failed') },
    );
    upstream = await startUpstream();
    const target = `api.upstream.test:${upstream.port}`;
    proxy = await startProxy({
      ca: { dir: join(dir, 'ca') },
      source: createStaticSource({
        services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
        secrets: { K: 'audit-fault-secret' },
      }),
      workloadToken: WORKLOAD_TOKEN,
      upstreamCa: FIXTURE_CA_PEM,
      lookup: lookupTo('127.0.0.1'),
      egress: { allowPrivate: TEST_ALLOW_PRIVATE },
      audit,
      logger,
    });
    const px = proxy;
    const send = async (path: string) =>
      (await httpsRequestThrough(px.port, target, { path }, { ca: px.caCertPem })).status;
    const auditedPaths = async () =>
      (await readFile(path, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { path: string }).path);

    expect(await send('/before')).toBe(200);
    await audit.flush();
    expect(await auditedPaths()).toEqual(['/before']);

    await rm(logDir, { recursive: true });
    for (const p of ['/gone-1', '/gone-2', '/gone-3']) expect(await send(p)).toBe(200);
    await audit.flush();
    expect(audit.stats()).toEqual({ written: 1, dropped: 3, queued: 0 });
    const errors = log.filter((l) => l.msg === 'audit write failed');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((l) => l.level === 50 && /ENOENT/.test(String(l.err)))).toBe(true);
    expect(upstream.received.map((r) => r.url)).toEqual(['/before', '/gone-1', '/gone-2', '/gone-3']);

    await mkdir(logDir);
    expect(await send('/back')).toBe(200);
    await audit.flush();
    expect(await auditedPaths()).toEqual(['/back']);
    expect(audit.stats()).toEqual({ written: 2, dropped: 3, queued: 0 });
    expect(JSON.stringify(log)).not.toContain('audit-fault-secret');
    await audit.close();
  });
});
