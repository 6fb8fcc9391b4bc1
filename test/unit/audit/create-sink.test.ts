import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditSink } from '../../../src/audit/create-sink.js';
import { buildChildModules } from './child-modules.js';
import { connId, denyEvent } from './sample-events.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clef-audit-create-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createAuditSink', () => {
  it('file settings: writes to path, rotating at maxBytes into maxFiles files', async () => {
    const path = join(dir, 'audit.log');
    const sink = createAuditSink({ sink: 'file', path, maxBytes: 300, maxFiles: 2 });
    for (let i = 0; i < 5; i++) sink.write(denyEvent(i));
    await sink.close();
    expect((await readdir(dir)).sort()).toEqual(['audit.log', 'audit.log.1', 'audit.log.2']);
    expect(JSON.parse(await readFile(path, 'utf8')).conn_id).toBe(connId(4));
    expect(JSON.parse(await readFile(`${path}.2`, 'utf8')).conn_id).toBe(connId(2));
    expect(sink.stats()).toEqual({ written: 5, dropped: 0, queued: 0 });
  });

  it('file settings: passes onError through', async () => {
    await writeFile(join(dir, 'plain'), '');
    const errors: string[] = [];
    const sink = createAuditSink(
      { sink: 'file', path: join(dir, 'plain', 'audit.log'), maxBytes: 1000, maxFiles: 1 },
      { onError: (e) => errors.push((e as NodeJS.ErrnoException).code ?? '') },
    );
    sink.write(denyEvent(1));
    await sink.close();
    expect(errors).toContain('ENOTDIR');
    expect(sink.stats().dropped).toBe(1);
  });

  it('stdout settings: JSON lines on fd 1 of the process (child)', async () => {
    const mods = await buildChildModules([
      'serialize',
      'stdout-sink',
      'file-sink',
      'ring-queue',
      'http-post',
      'batch-shipper',
      'webhook-sink',
      'otlp-encode',
      'otlp-sink',
      'fan-out-sink',
      'create-sink',
    ]);
    try {
      const script = `
        import { createAuditSink } from ${JSON.stringify(mods.url('create-sink'))};
        const sink = createAuditSink({ sink: 'stdout' });
        for (const id of ['c1', 'c2', 'c3']) sink.write({ schema_version: 1, ts: 't', event: 'deny', conn_id: id,
          client: '127.0.0.1:1', host: 'a.test', port: 443, decision: 'deny', reason: 'host_not_allowed', status: 403 });
        await sink.close();
      `;
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
        cwd: mods.dir,
      });
      expect(stdout.split('\n').map((l) => l && JSON.parse(l).conn_id)).toEqual(['c1', 'c2', 'c3', '']);
    } finally {
      await mods.remove();
    }
  });
});
