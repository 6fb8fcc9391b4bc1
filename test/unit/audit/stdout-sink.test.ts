import { spawn } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStdoutSink } from '../../../src/audit/stdout-sink.js';
import { buildChildModules, type ChildModules } from './child-modules.js';
import { connId, denyEvent, requestEvent } from './sample-events.js';

let mods: ChildModules;
let dir: string;
let sinkUrl: string;

beforeAll(async () => {
  mods = await buildChildModules(['serialize', 'stdout-sink']);
  dir = mods.dir;
  sinkUrl = mods.url('stdout-sink');
});
afterAll(async () => {
  await mods.remove();
});

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `body` in a child with `sink` (fd 1) and `event(i)` in scope; resolve with its output. */
function runChild(body: string, onStdout?: (child: ReturnType<typeof spawn>) => void): Promise<ChildResult> {
  const script = `
    import { createStdoutSink } from ${JSON.stringify(sinkUrl)};
    const errors = [];
    const sink = createStdoutSink(1, { onError: (e) => errors.push(e.code ?? e.message) });
    const event = (i) => ({ schema_version: 1, ts: '2026-11-29T07:00:00.123Z', event: 'deny',
      conn_id: 'c' + String(i).padStart(5, '0'), client: '127.0.0.1:1', host: null, port: null,
      decision: 'deny', reason: 'not_tls', authorization: 'Bearer sekrit' });
    ${body}
  `;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      onStdout?.(child);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

describe('createStdoutSink on fd 1 (child process)', () => {
  it('writes exactly N parseable lines, in order, then exits cleanly', async () => {
    const n = 5000;
    const res = await runChild(`
      for (let i = 0; i < ${n}; i++) sink.write(event(i));
      await sink.close();
      process.stderr.write(JSON.stringify({ stats: sink.stats(), errors }));
    `);
    expect(res.code).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(n);
    lines.forEach((line, i) => {
      const parsed = JSON.parse(line);
      expect(parsed.conn_id).toBe(connId(i));
      expect(parsed.event).toBe('deny');
    });
    expect(res.stdout).not.toContain('sekrit');
    expect(JSON.parse(res.stderr)).toEqual({ stats: { written: n, dropped: 0, queued: 0 }, errors: [] });
  });

  it('flush() resolves only once every line is on the fd', async () => {
    // A raw write to fd 1 after flush() must land after every audit line, never between them.
    const res = await runChild(`
      import { writeSync } from 'node:fs';
      for (let i = 0; i < 20000; i++) sink.write(event(i));
      await sink.flush();
      writeSync(1, 'MARK\\n');
      await sink.close();
    `);
    const lines = res.stdout.split('\n');
    expect(lines.slice(-2)).toEqual(['MARK', '']);
    expect(lines.indexOf('MARK')).toBe(20000);
  });

  it('does not crash when the reader goes away (EPIPE): later events are counted as dropped', async () => {
    const res = await runChild(
      `
      for (let i = 0; i < 200000 && errors.length === 0; i++) { sink.write(event(i)); await sink.flush(); }
      const before = sink.stats().dropped;
      for (let i = 0; i < 10; i++) sink.write(event(i));
      await sink.close();
      process.stderr.write(JSON.stringify({ before, after: sink.stats().dropped, errors }));
    `,
      (child) => child.stdout?.destroy(),
    );
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stderr);
    expect(report.errors).toContain('EPIPE');
    expect(report.after - report.before).toBe(10);
  });
});

describe('createStdoutSink on a stream', () => {
  it('flush resolves once the lines reached the stream; close ends it', async () => {
    const out = new PassThrough();
    let text = '';
    out.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
    });
    const ended = new Promise((r) => out.on('end', r));
    const sink = createStdoutSink(out);
    sink.write(requestEvent(1));
    sink.write(denyEvent(2, { reason: 'proxy_auth_required', status: 407 }));
    await sink.flush();
    expect(text.split('\n').map((l) => l && JSON.parse(l).conn_id)).toEqual([connId(1), connId(2), '']);
    await sink.close();
    await ended;
    sink.write(requestEvent(3));
    expect(sink.stats()).toEqual({ written: 2, dropped: 1, queued: 0 });
  });

  it('reports a failing destination through onError and never throws from write()', async () => {
    const failing = new Writable({
      write(_chunk, _enc, cb) {
        cb(Object.assign(new Error('disk on fire'), { code: 'EIO' }));
      },
    });
    const errors: string[] = [];
    const sink = createStdoutSink(failing, { onError: (e) => errors.push(e.message) });
    expect(() => sink.write(requestEvent(1))).not.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(() => sink.write(requestEvent(2))).not.toThrow();
    expect(errors).toEqual(['disk on fire']);
  });

  it('counts events it cannot serialize as dropped', () => {
    const sink = createStdoutSink(new PassThrough());
    sink.write({ event: 'bogus' } as never);
    expect(sink.stats()).toEqual({ written: 0, dropped: 1, queued: 0 });
  });
});
