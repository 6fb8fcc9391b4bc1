import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CountingAuditSink } from '../../src/audit/create-sink.js';
import { createFileSink } from '../../src/audit/file-sink.js';
import { serializeEvent } from '../../src/audit/serialize.js';
import { buildChildModules, type ChildModules } from '../unit/audit/child-modules.js';
import { connId, denyEvent, requestEvent } from '../unit/audit/sample-events.js';

const posixOnly = process.platform === 'win32' ? it.skip : it;
const LINE_BYTES = Buffer.byteLength(serializeEvent(denyEvent(0))!);
const mode = (p: string) => statSync(p).mode & 0o777;

let dir: string;
let sinks: CountingAuditSink[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clef-audit-file-'));
  sinks = [];
});
afterEach(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

function sink(opts: Partial<Parameters<typeof createFileSink>[0]> = {}) {
  const s = createFileSink({ path: join(dir, 'audit.log'), maxBytes: 1 << 20, maxFiles: 5, ...opts });
  sinks.push(s);
  return s;
}
const writeBurst = (s: CountingAuditSink, from: number, to: number) => {
  for (let i = from; i < to; i++) s.write(denyEvent(i));
};
/** Lines of path.N … path.1, path (oldest first), each checked to be a whole JSON line. */
function readChain(path: string, maxFiles: number): string[] {
  const files = [...Array.from({ length: maxFiles }, (_, k) => `${path}.${maxFiles - k}`), path];
  const lines: string[] = [];
  for (const f of files.filter((p) => existsSync(p))) {
    const text = readFileSync(f, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    lines.push(...text.slice(0, -1).split('\n'));
  }
  return lines.map((l) => JSON.parse(l).conn_id);
}

describe('file sink', () => {
  posixOnly('creates the file 0600 and narrows an existing one to 0600', async () => {
    const s = sink();
    s.write(requestEvent(1));
    await s.flush();
    expect(mode(join(dir, 'audit.log'))).toBe(0o600);

    const loose = join(dir, 'loose.log');
    writeFileSync(loose, '');
    chmodSync(loose, 0o644);
    const t = sink({ path: loose });
    t.write(requestEvent(1));
    await t.flush();
    expect(mode(loose)).toBe(0o600);
  });

  it('flush resolves only when the lines are in the file; appends to what was there', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, `${serializeEvent(denyEvent(0))}`);
    const s = sink();
    await s.flush();
    writeBurst(s, 1, 4);
    await s.flush();
    expect(readChain(path, 0)).toEqual([0, 1, 2, 3].map(connId));
    expect(s.stats()).toEqual({ written: 3, dropped: 0, queued: 0 });
  });

  it.each([
    [3, 2048],
    [1, 2048],
    [0, 2048],
  ])(
    'maxFiles %i, maxBytes %i: keeps exactly the newest events that fit, 0600, no partial lines',
    async (maxFiles, maxBytes) => {
      const path = join(dir, 'audit.log');
      await writeFile(`${path}.7`, 'stale\n'); // beyond maxFiles: the oldest, must go at the first rotation
      const s = sink({ maxBytes, maxFiles });
      writeBurst(s, 0, 5000);
      await s.flush();

      const perFile = Math.floor(maxBytes / LINE_BYTES);
      const inCurrent = ((5000 - 1) % perFile) + 1;
      const kept = inCurrent + maxFiles * perFile;
      const expected = Array.from({ length: kept }, (_, k) => connId(5000 - kept + k));
      expect(readChain(path, maxFiles)).toEqual(expected);
      const names = (await readdir(dir)).sort();
      expect(names).toEqual(
        ['audit.log', ...Array.from({ length: maxFiles }, (_, k) => `audit.log.${k + 1}`)].sort(),
      );
      for (const name of names) {
        expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(maxBytes);
        if (process.platform !== 'win32') expect(mode(join(dir, name))).toBe(0o600);
      }
      expect(s.stats()).toEqual({ written: 5000, dropped: 0, queued: 0 });
    },
  );

  it('loses nothing across rotations: 5,000 events, interleaved bursts, all present in order once', async () => {
    const path = join(dir, 'audit.log');
    const s = sink({ maxBytes: 2048, maxFiles: 1000 });
    for (let from = 0; from < 5000; from += 250) {
      writeBurst(s, from, from + 250);
      if (from % 1000 === 0) await new Promise((r) => setImmediate(r)); // let a rotation start mid-burst
    }
    await s.flush();
    expect(readChain(path, 1000)).toEqual(Array.from({ length: 5000 }, (_, i) => connId(i)));
  });

  it('writes a line longer than maxBytes alone, to a fresh file', async () => {
    const path = join(dir, 'audit.log');
    const s = sink({ maxBytes: 400, maxFiles: 5 });
    s.write(denyEvent(1));
    s.write(requestEvent(2, { path: `/${'x'.repeat(600)}` }));
    s.write(denyEvent(3));
    await s.flush();
    expect(readChain(`${path}.2`, 0)).toEqual([connId(1)]);
    expect(readChain(`${path}.1`, 0)).toEqual([connId(2)]);
    expect(readChain(path, 0)).toEqual([connId(3)]);
  });

  it('keeps serving when the directory disappears, counts the drops, resumes when it is back', async () => {
    const logDir = join(dir, 'logs');
    await mkdir(logDir);
    const path = join(logDir, 'audit.log');
    const errors: string[] = [];
    const s = sink({ path, onError: (e) => errors.push((e as NodeJS.ErrnoException).code ?? e.message) });
    writeBurst(s, 0, 10);
    await s.flush();
    await rm(logDir, { recursive: true });

    expect(() => writeBurst(s, 10, 20)).not.toThrow();
    await s.flush();
    expect(s.stats()).toEqual({ written: 10, dropped: 10, queued: 0 });
    expect(errors).toContain('ENOENT');

    await mkdir(logDir);
    writeBurst(s, 20, 25);
    await s.flush();
    expect(s.stats()).toEqual({ written: 15, dropped: 10, queued: 0 });
    expect(readChain(path, 0)).toEqual([20, 21, 22, 23, 24].map(connId));
  });

  it('re-creates a log file removed under it instead of writing into the void', async () => {
    const path = join(dir, 'audit.log');
    const s = sink();
    writeBurst(s, 0, 3);
    await s.flush();
    await rm(path);
    writeBurst(s, 3, 5);
    await s.flush();
    expect(readChain(path, 0)).toEqual([3, 4].map(connId));
  });

  it('a path inside a regular file: reported at once, write() never throws, every event counted dropped', async () => {
    await writeFile(join(dir, 'plain'), '');
    const path = join(dir, 'plain', 'audit.log');
    const codes = (errors: Error[]) => errors.map((e) => (e as NodeJS.ErrnoException).code);

    const idle: Error[] = [];
    const unused = sink({ path, onError: (e) => idle.push(e) });
    await unused.close(); // waits for the eager open: reported before any event was written
    expect(codes(idle)).toEqual(['ENOTDIR']);

    const errors: Error[] = [];
    const s = sink({
      path,
      onError: (e) => {
        errors.push(e);
        throw new Error('a throwing callback must not matter');
      },
    });
    expect(() => writeBurst(s, 0, 5)).not.toThrow();
    await s.flush();
    expect(s.stats()).toEqual({ written: 0, dropped: 5, queued: 0 });
    expect(codes(errors)).toEqual(['ENOTDIR', 'ENOTDIR']); // the eager open, then the retry for the batch
  });

  it('drops (and reports once) what does not fit the in-memory buffer', async () => {
    const errors: string[] = [];
    const s = sink({ maxBufferChars: LINE_BYTES * 10, onError: (e) => errors.push(e.message) });
    writeBurst(s, 0, 25);
    await s.flush();
    expect(s.stats()).toEqual({ written: 10, dropped: 15, queued: 0 });
    expect(errors).toHaveLength(1);
    expect(readChain(join(dir, 'audit.log'), 0)).toEqual(Array.from({ length: 10 }, (_, i) => connId(i)));
  });

  it('close() writes everything queued; later events are counted dropped', async () => {
    const path = join(dir, 'audit.log');
    const s = sink();
    writeBurst(s, 0, 1000);
    await s.close();
    expect(readChain(path, 0)).toHaveLength(1000);
    s.write(denyEvent(1000));
    await s.flush();
    expect(s.stats()).toEqual({ written: 1000, dropped: 1, queued: 0 });
    expect(readChain(path, 0)).toHaveLength(1000);
  });

  // A file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes write(2) fail half-way like a full disk does.
  describe.skipIf(process.platform === 'win32')('when the disk fills up (child process, ulimit -f)', () => {
    let mods: ChildModules;
    beforeAll(async () => {
      mods = await buildChildModules(['serialize', 'file-sink']);
    });
    afterAll(async () => {
      await mods.remove();
    });

    it('drops the failed batch whole, leaves only complete lines, keeps the process up, resumes', async () => {
      const path = join(dir, 'audit.log');
      const script = `
        import { createFileSink } from ${JSON.stringify(mods.url('file-sink'))};
        const errors = [];
        const sink = createFileSink({ path: ${JSON.stringify(path)}, maxBytes: 1 << 20, maxFiles: 2,
          onError: (e) => errors.push(e.code ?? e.message) });
        const event = (i) => ({ schema_version: 1, ts: 't', event: 'deny', conn_id: 'c' + String(i).padStart(5, '0'),
          client: '127.0.0.1:1', host: null, port: null, decision: 'deny', reason: 'not_tls' });
        const burst = (from, to) => { for (let i = from; i < to; i++) sink.write(event(i)); };
        burst(0, 20); await sink.flush();
        burst(20, 120); await sink.flush();
        burst(120, 125); await sink.close();
        process.stdout.write(JSON.stringify({ stats: sink.stats(), errors }));
      `;
      const cmd = `trap '' XFSZ; ulimit -f 8; exec "$0" --input-type=module -e "$1"`;
      const { stdout } = await promisify(execFile)('bash', ['-c', cmd, process.execPath, script], {
        cwd: mods.dir,
      });
      expect(JSON.parse(stdout)).toEqual({
        stats: { written: 25, dropped: 100, queued: 0 },
        errors: ['EFBIG'],
      });
      const expected = [...Array.from({ length: 20 }, (_, i) => i), 120, 121, 122, 123, 124].map(connId);
      expect(readChain(path, 0)).toEqual(expected);
    });
  });
});
