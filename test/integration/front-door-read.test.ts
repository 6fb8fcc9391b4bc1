import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type HeadResult, type ReadHeadOptions, readHead } from '../../src/connect/read-head.js';

const EVENTS = ['data', 'end', 'close', 'error', 'readable'] as const;
type Counts = Record<(typeof EVENTS)[number], number>;

interface Run {
  readonly result: HeadResult;
  readonly socket: net.Socket;
  readonly before: Counts;
  readonly after: Counts;
}

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
const intervals: NodeJS.Timeout[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const t of intervals.splice(0)) clearInterval(t);
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function counts(s: net.Socket): Counts {
  return Object.fromEntries(EVENTS.map((e) => [e, s.listenerCount(e)])) as Counts;
}

/** A loopback server whose first connection goes through readHead; `onSocket` runs before readHead. */
async function serve(
  opts: ReadHeadOptions,
  onSocket?: (s: net.Socket) => void,
): Promise<{ port: number; run: Promise<Run> }> {
  let resolveRun: (r: Run) => void = () => {};
  const run = new Promise<Run>((r) => {
    resolveRun = r;
  });
  const server = net.createServer((socket) => {
    sockets.add(socket);
    // The caller's own guard, as the listener keeps one for the socket's whole life.
    socket.on('error', () => {});
    onSocket?.(socket);
    const before = counts(socket);
    void readHead(socket, opts).then((result) =>
      resolveRun({ result, socket, before, after: counts(socket) }),
    );
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, run };
}

async function connect(port: number): Promise<net.Socket> {
  const client = net.connect({ port, host: '127.0.0.1', noDelay: true });
  sockets.add(client);
  client.on('error', () => {});
  await new Promise<void>((r) => client.once('connect', r));
  return client;
}

function write(s: net.Socket, data: Buffer | string): Promise<void> {
  return new Promise((r, j) => s.write(data, (err) => (err ? j(err) : r())));
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Assert readHead left the socket as it found it: paused, its own listeners gone. */
function expectClean(run: Run): void {
  expect(run.after).toEqual(run.before);
  expect(run.socket.isPaused()).toBe(true);
}

const CONNECT = 'CONNECT api.upstream.test:443 HTTP/1.1\r\nHost: api.upstream.test:443\r\n\r\n';
const OPTS: ReadHeadOptions = { maxHeaderBytes: 16_384, timeoutMs: 10_000 };

/** A CONNECT head padded with one header to exactly `size` bytes. */
function headOfSize(size: number): Buffer {
  const base = 'CONNECT h.test:443 HTTP/1.1\r\nX-Pad: \r\n\r\n';
  return Buffer.from(base.replace('X-Pad: ', `X-Pad: ${'a'.repeat(size - base.length)}`));
}

describe('readHead on real sockets', () => {
  it('reassembles a head sent one byte per write', async () => {
    let chunks = 0;
    const { port, run } = await serve(OPTS, (s) => s.on('data', () => chunks++));
    const client = await connect(port);
    for (const byte of Buffer.from(CONNECT)) {
      await write(client, Buffer.from([byte]));
      await pause(1);
    }
    const r = await run;
    expect(r.result).toEqual({ ok: true, head: Buffer.from(CONNECT), rest: Buffer.alloc(0) });
    expect(chunks).toBeGreaterThan(1);
    expectClean(r);
  });

  it('leaves no listener on the socket after success', async () => {
    const { port, run } = await serve(OPTS);
    await write(await connect(port), CONNECT);
    const r = await run;
    expect(r.result.ok).toBe(true);
    expect(r.socket.listenerCount('data')).toBe(0);
    expectClean(r);
  });

  it.each([
    ['exactly maxHeaderBytes', 256, { ok: true }],
    ['one byte more', 257, { ok: false, code: 'headers_too_large' }],
  ])('%s', async (_label, size, expected) => {
    const head = headOfSize(size);
    expect(head.length).toBe(size);
    const { port, run } = await serve({ ...OPTS, maxHeaderBytes: 256 });
    await write(await connect(port), head);
    const r = await run;
    expect(r.result).toMatchObject(expected);
    if (r.result.ok) expect(r.result.head.equals(head)).toBe(true);
    expectClean(r);
  });

  it('stops at maxHeaderBytes for a head that never ends', async () => {
    const { port, run } = await serve({ ...OPTS, maxHeaderBytes: 1024 });
    const client = await connect(port);
    await write(client, 'CONNECT h.test:443 HTTP/1.1\r\nX-Pad: ');
    await write(client, 'a'.repeat(4096));
    const r = await run;
    expect(r.result).toMatchObject({ ok: false, code: 'headers_too_large' });
    expect(r.result.ok === false && r.result.bytesRead).toBeGreaterThanOrEqual(1024);
    expectClean(r);
  });

  it('refuses maxHeaderBytes bytes without CRLFCRLF at once: the head cannot fit any more', async () => {
    const { port, run } = await serve({ maxHeaderBytes: 64, timeoutMs: 600_000 });
    const head = headOfSize(66).subarray(0, 64);
    await write(await connect(port), head);
    const r = await run;
    expect(r.result).toEqual({ ok: false, code: 'headers_too_large', bytesRead: 64 });
    expectClean(r);
  });

  it.each([
    ['bare LF ending the request line', 'CONNECT h.test:443 HTTP/1.1\nHost: h\r\n\r\n'],
    ['bare LF after headers', 'CONNECT h.test:443 HTTP/1.1\r\nHost: h\r\n\n'],
    ['LF-only head', 'CONNECT h.test:443 HTTP/1.1\n\n'],
  ])('refuses a %s as bad_request', async (_label, text) => {
    const { port, run } = await serve(OPTS);
    await write(await connect(port), text);
    const r = await run;
    expect(r.result).toMatchObject({ ok: false, code: 'bad_request' });
    expectClean(r);
  });

  it('refuses a TLS ClientHello at its first byte, without waiting for the deadline', async () => {
    const { port, run } = await serve({ maxHeaderBytes: 16_384, timeoutMs: 600_000 });
    await write(
      await connect(port),
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x03]),
    );
    const r = await run;
    expect(r.result).toEqual({ ok: false, code: 'bad_request', bytesRead: 10 });
    expectClean(r);
  });

  it('times out a client trickling one byte per 50 ms against a 300 ms deadline', async () => {
    const { port, run } = await serve({ maxHeaderBytes: 16_384, timeoutMs: 300 });
    const client = await connect(port);
    // 120 bytes at 50 ms each would take 6 s: only a deadline (not an idle timer) can end this early.
    const bytes = headOfSize(120);
    let i = 0;
    intervals.push(
      setInterval(() => {
        if (i < bytes.length && !client.destroyed) client.write(bytes.subarray(i, ++i));
      }, 50),
    );
    const r = await run;
    expect(r.result.ok).toBe(false);
    if (r.result.ok) return;
    expect(r.result.code).toBe('header_timeout');
    expect(r.result.bytesRead).toBeGreaterThan(1);
    expect(r.result.bytesRead).toBeLessThan(bytes.length);
    expectClean(r);
  });

  it('times out a connection that sends nothing, after idleMs', async () => {
    const { port, run } = await serve({ maxHeaderBytes: 16_384, timeoutMs: 600_000, idleMs: 100 });
    await connect(port);
    const r = await run;
    expect(r.result).toEqual({ ok: false, code: 'header_timeout', bytesRead: 0 });
    expectClean(r);
  });

  it('drops the idle timer at the first byte: the deadline then governs', async () => {
    const { port, run } = await serve({ maxHeaderBytes: 16_384, timeoutMs: 10_000, idleMs: 100 });
    const client = await connect(port);
    await write(client, CONNECT.slice(0, 5));
    await pause(300);
    await write(client, CONNECT.slice(5));
    const r = await run;
    expect(r.result).toEqual({ ok: true, head: Buffer.from(CONNECT), rest: Buffer.alloc(0) });
  });

  it.each([
    ['ends (FIN)', (s: net.Socket) => s.end()],
    ['resets (RST)', (s: net.Socket) => s.resetAndDestroy()],
  ])('reports client_closed when the client %s mid-header', async (_label, hangUp) => {
    const { port, run } = await serve(OPTS);
    const client = await connect(port);
    await write(client, 'CONNECT h.test:443 HTTP/1.1\r\nHo');
    await pause(20);
    hangUp(client);
    const r = await run;
    expect(r.result).toMatchObject({ ok: false, code: 'client_closed' });
    expectClean(r);
  });

  it('reports client_closed at once for a socket already destroyed', async () => {
    const socket = new net.Socket();
    socket.destroy();
    const before = counts(socket);
    expect(await readHead(socket, OPTS)).toEqual({ ok: false, code: 'client_closed', bytesRead: 0 });
    expect(counts(socket)).toEqual(before);
  });

  it('returns bytes sent right after the head in `rest`, losing none', async () => {
    const payload = Buffer.alloc(10_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
    const { port, run } = await serve(OPTS);
    await write(await connect(port), Buffer.concat([Buffer.from(CONNECT), payload]));
    const r = await run;
    expect(r.result.ok).toBe(true);
    if (!r.result.ok) return;
    expect(r.result.head.toString('latin1')).toBe(CONNECT);
    const { rest } = r.result;
    expect(payload.subarray(0, rest.length).equals(rest)).toBe(true);
    expectClean(r);
    // The caller reads the remainder later: nothing was dropped while the socket sat paused.
    const got: Buffer[] = [rest];
    let total = rest.length;
    await new Promise<void>((done) => {
      if (total === payload.length) return done();
      r.socket.on('data', (c: Buffer) => {
        got.push(c);
        total += c.length;
        if (total >= payload.length) done();
      });
      r.socket.resume();
    });
    expect(Buffer.concat(got).equals(payload)).toBe(true);
  });
});

describe('readHead timers', () => {
  it.each([
    ['success', CONNECT, true],
    ['bad_request', 'CONNECT h\n', false],
  ])('leaves no timer behind after %s', async (_label, text, ok) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { port, run } = await serve(OPTS);
    await write(await connect(port), text);
    const r = await run;
    expect(r.result.ok).toBe(ok);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fires the deadline once and leaves no timer behind', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let firstByte: () => void = () => {};
    const arrived = new Promise<void>((r) => {
      firstByte = r;
    });
    const { port, run } = await serve({ ...OPTS, idleMs: 50 }, (s) => s.on('data', () => firstByte()));
    await write(await connect(port), 'CON');
    await arrived;
    // One timer armed (the deadline replaced the idle timer); advancing past the idle wait alone does nothing.
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(OPTS.timeoutMs - 1);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1);
    const r = await run;
    expect(r.result).toEqual({ ok: false, code: 'header_timeout', bytesRead: 3 });
    expect(vi.getTimerCount()).toBe(0);
    expectClean(r);
  });
});
