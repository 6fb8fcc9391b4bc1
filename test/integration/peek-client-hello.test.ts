/**
 * peekClientHello on real loopback sockets. The proof that peeking consumed nothing: after the peek the test
 * terminates TLS on the same socket (`new tls.TLSSocket(socket, { isServer: true })`) and the real client —
 * Node's tls.connect, or curl when installed — completes a verified handshake and exchanges data.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { parseClientHello } from '../../src/tls/client-hello.js';
import { type PeekOptions, type PeekResult, peekClientHello } from '../../src/tls/peek-client-hello.js';

const certs = join(import.meta.dirname, '../../fixtures/certs');
const caPem = readFileSync(join(certs, 'ca.crt'));
const secureContext = createSecureContext({
  cert: readFileSync(join(certs, 'upstream.crt')),
  key: readFileSync(join(certs, 'upstream.key')),
});
const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasCurl) console.log('skipping the curl client test: curl is not installed');

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

type Handler = (socket: Socket) => void;

/** A loopback server that hands each accepted socket to `handler`; torn down after the test. */
function listen(handler: Handler): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {}); // the test's own guard; peek's listeners come and go
    handler(socket);
  });
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

const pong = (d: Buffer): string => `pong:${d.toString()}`;
/** An HTTP/1.1 answer naming the request line it got, for clients that speak HTTP (curl). */
const http = (d: Buffer): string => {
  const body = `saw ${d.toString('latin1').split('\r\n')[0]}`;
  return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
};

/** Peek on the next accepted socket, then (on ok) terminate TLS there and answer the first chunk with `reply`. */
function peekThenServe(
  prepare: (socket: Socket) => PeekOptions | Promise<PeekOptions>,
  reply: (d: Buffer) => string = pong,
): {
  port: Promise<number>;
  peeked: Promise<PeekResult>;
  /** How many 'data' events the socket emitted while the peek ran. */
  reads: Promise<number>;
} {
  let deliver!: (r: PeekResult) => void;
  const peeked = new Promise<PeekResult>((r) => {
    deliver = r;
  });
  let deliverReads!: (n: number) => void;
  const reads = new Promise<number>((r) => {
    deliverReads = r;
  });
  const port = listen(async (socket) => {
    const opts = await prepare(socket);
    let n = 0;
    const count = (): void => {
      n++;
    };
    socket.on('data', count);
    const result = await peekClientHello(socket, opts);
    socket.off('data', count);
    deliverReads(n);
    deliver(result);
    if (result.status !== 'ok') return;
    const tls = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
    tls.on('error', () => {});
    tls.once('data', (d: Buffer) => tls.end(reply(d)));
  });
  return { port, peeked, reads };
}

/** A client-side transport that sends the first chunk written to it (the ClientHello) one byte per TCP write. */
class Trickle extends Duplex {
  readonly sent: Buffer[] = [];
  private first = true;
  constructor(private readonly raw: Socket) {
    super();
    raw.setNoDelay(true);
    raw.on('data', (d) => this.push(d));
    raw.on('end', () => this.push(null));
    raw.on('error', (e) => this.destroy(e));
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (!this.first) {
      this.raw.write(chunk, done);
      return;
    }
    this.first = false;
    this.sent.push(chunk);
    let i = 0;
    const next = (): void => {
      if (i === chunk.length) {
        done();
        return;
      }
      this.raw.write(chunk.subarray(i, ++i), () => setTimeout(next, 1));
    };
    next();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.raw.destroy();
    cb(err);
  }
}

/** tls.connect through `transport`, verify the fixture CA, send `ping`, return what came back. */
function tlsRoundTrip(
  transport: Duplex | undefined,
  port: number,
  servername = 'api.upstream.test',
): Promise<string> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      ...(transport === undefined ? { host: '127.0.0.1', port } : { socket: transport }),
      servername,
      ca: caPem,
      ALPNProtocols: ['http/1.1'],
    });
    cleanups.push(() => tls.destroy());
    let reply = '';
    tls.on('error', reject);
    tls.on('secureConnect', () => {
      expect(tls.authorized).toBe(true);
      expect(tls.alpnProtocol).toBe('http/1.1');
      tls.write('ping');
    });
    tls.on('data', (d: Buffer) => {
      reply += d.toString();
    });
    tls.on('end', () => resolve(reply));
  });
}

/** A plain client connection whose bytes the test writes itself. */
function rawClient(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => {});
    cleanups.push(() => s.destroy());
  });
}

const inTenSeconds = (): PeekOptions => ({ deadline: Date.now() + 10_000 });

describe('peekClientHello with real TLS clients', () => {
  it('a hello arriving one byte per write: ok, and the replayed bytes complete a verified handshake', async () => {
    const { port, peeked, reads } = peekThenServe(inTenSeconds);
    const trickle = new Trickle(netConnect(await port, '127.0.0.1'));
    cleanups.push(() => trickle.destroy());
    const reply = await tlsRoundTrip(trickle, await port);
    expect(reply).toBe('pong:ping');
    const result = await peeked;
    expect(result).toMatchObject({ status: 'ok', sni: 'api.upstream.test', alpn: ['http/1.1'] });
    expect(result.buffered.equals(Buffer.concat(trickle.sent))).toBe(true);
    // The hello really arrived in pieces (the kernel may merge a few of the one-byte segments, not all).
    expect(await reads).toBeGreaterThan(1);
  });

  it('no servername to an IP literal: ok with sni undefined', async () => {
    const { port, peeked } = peekThenServe(inTenSeconds);
    const tls = tlsConnect({ host: '127.0.0.1', port: await port, rejectUnauthorized: false });
    cleanups.push(() => tls.destroy());
    tls.on('error', () => {});
    const result = await peeked;
    expect(result).toMatchObject({ status: 'ok', sni: undefined, alpn: [] });
    expect(result.buffered[0]).toBe(0x16);
  });

  it('honours initial bytes: replayed first, followed by what is read from the socket', async () => {
    // Emulate the front door: it read the first chunk itself and hands it over instead of unshifting it.
    const firstChunk = (socket: Socket): Promise<PeekOptions> =>
      new Promise((resolve) => {
        socket.once('data', (initial: Buffer) => {
          socket.pause();
          resolve({ initial, deadline: Date.now() + 10_000 });
        });
      });
    let initial: Buffer = Buffer.alloc(0);
    const { port, peeked } = peekThenServe(async (socket) => {
      const opts = await firstChunk(socket);
      initial = opts.initial!;
      return opts;
    });
    const trickle = new Trickle(netConnect(await port, '127.0.0.1'));
    cleanups.push(() => trickle.destroy());
    expect(await tlsRoundTrip(trickle, await port)).toBe('pong:ping');
    const result = await peeked;
    expect(result.status).toBe('ok');
    expect(initial.length).toBeGreaterThan(0);
    expect(initial.length).toBeLessThan(result.buffered.length);
    expect(result.buffered.equals(Buffer.concat(trickle.sent))).toBe(true);
  });

  it('a whole hello in initial: decided without reading, and still replayed to TLS', async () => {
    const wholeHello = (socket: Socket): Promise<PeekOptions> =>
      new Promise((resolve) => {
        const chunks: Buffer[] = [];
        const onData = (d: Buffer): void => {
          chunks.push(d);
          const initial = Buffer.concat(chunks);
          if (parseClientHello(initial).status !== 'ok') return;
          socket.off('data', onData);
          socket.pause();
          resolve({ initial, deadline: Date.now() + 10_000 });
        };
        socket.on('data', onData);
      });
    const { port, peeked } = peekThenServe(wholeHello);
    expect(await tlsRoundTrip(undefined, await port, 'upstream.test')).toBe('pong:ping');
    expect(await peeked).toMatchObject({ status: 'ok', sni: 'upstream.test', alpn: ['http/1.1'] });
  });

  it.skipIf(!hasCurl)('curl as the client: ok, and curl completes a verified HTTPS request', async () => {
    const { port, peeked } = peekThenServe(inTenSeconds, http);
    const p = await port;
    const child = spawn('curl', [
      '-s',
      '--http1.1',
      '--max-time',
      '10',
      '--cacert',
      join(certs, 'ca.crt'),
      '--connect-to',
      `api.upstream.test:443:127.0.0.1:${p}`,
      'https://api.upstream.test/',
    ]);
    cleanups.push(() => child.kill());
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(await peeked).toMatchObject({ status: 'ok', sni: 'api.upstream.test', alpn: ['http/1.1'] });
    // The server's answer naming curl's request line proves the TLS session carried it both ways.
    expect(out).toBe('saw GET / HTTP/1.1');
    expect(code).toBe(0);
  });
});

interface Outcome {
  readonly result: PeekResult;
  readonly socket: Socket;
  /** Listener counts for data/end/close/error before the peek and after it settled. */
  readonly before: number[];
  readonly after: number[];
  /** Active timers before and after: the peek's deadline timer must be gone. */
  readonly timersBefore: number;
  readonly timersAfter: number;
}

const EVENTS = ['data', 'end', 'close', 'error'] as const;
const counts = (s: Socket): number[] => EVENTS.map((e) => s.listenerCount(e));
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Run only the peek on the next accepted socket and report what it left behind. */
function peekOnly(opts: () => PeekOptions): { port: Promise<number>; outcome: Promise<Outcome> } {
  let deliver!: (o: Outcome) => void;
  const outcome = new Promise<Outcome>((r) => {
    deliver = r;
  });
  const port = listen(async (socket) => {
    const before = counts(socket);
    const timersBefore = timers();
    const result = await peekClientHello(socket, opts());
    deliver({ result, socket, before, after: counts(socket), timersBefore, timersAfter: timers() });
  });
  return { port, outcome };
}

const fixture = readFileSync(join(import.meta.dirname, '../../fixtures/client-hellos/node-sni.bin'));

/** Assert the peek cleaned up after itself: its listeners gone, the socket paused, its timer cleared. */
function expectCleanedUp(o: Outcome): void {
  expect(o.after).toEqual(o.before);
  expect(o.socket.isPaused()).toBe(true);
  // Other timers may expire meanwhile, none may be left behind by the peek.
  expect(o.timersAfter).toBeLessThanOrEqual(o.timersBefore);
}

describe('peekClientHello outcomes other than a handshake', () => {
  it('ok: the hello is unshifted, readable again byte for byte, and the peek cleaned up', async () => {
    const { port, outcome } = peekOnly(inTenSeconds);
    (await rawClient(await port)).write(fixture);
    const o = await outcome;
    expect(o.result).toMatchObject({ status: 'ok', sni: 'api.upstream.test', alpn: [] });
    expect(o.result.buffered.equals(fixture)).toBe(true);
    expectCleanedUp(o);
    expect(o.socket.read(fixture.length)?.equals(fixture)).toBe(true);
  });

  it("not_tls from the first byte alone: a lone 'G' is not held until the deadline", async () => {
    const { port, outcome } = peekOnly(() => ({ deadline: Date.now() + 120_000 }));
    (await rawClient(await port)).write('G');
    const o = await outcome;
    expect(o.result).toEqual({ status: 'not_tls', buffered: Buffer.from('G') });
    expectCleanedUp(o);
    // Nothing is put back on a refusal: the caller closes the connection.
    expect(o.socket.readableLength).toBe(0);
  });

  it('not_tls for a plain HTTP request', async () => {
    const { port, outcome } = peekOnly(inTenSeconds);
    (await rawClient(await port)).write('GET / HTTP/1.1\r\nHost: api.upstream.test\r\n\r\n');
    const o = await outcome;
    expect(o.result.status).toBe('not_tls');
    expect(o.result.buffered.toString('latin1').startsWith('G')).toBe(true);
  });

  it('invalid for a hello whose SNI holds a space', async () => {
    const bad = Buffer.from(fixture);
    const at = bad.indexOf('api.upstream.test');
    bad[at + 3] = 0x20;
    const { port, outcome } = peekOnly(inTenSeconds);
    (await rawClient(await port)).write(bad);
    const o = await outcome;
    expect(o.result).toEqual({ status: 'invalid', buffered: bad });
    expectCleanedUp(o);
  });

  it('invalid once maxBytes are buffered without a decision', async () => {
    // A record announcing a 60000-byte hello, then 300 bytes of it: legal so far, but over a 100-byte cap.
    const head = Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0xea, 0x60]);
    const { port, outcome } = peekOnly(() => ({ deadline: Date.now() + 10_000, maxBytes: 100 }));
    (await rawClient(await port)).write(Buffer.concat([head, Buffer.alloc(300)]));
    const o = await outcome;
    expect(o.result.status).toBe('invalid');
    expect(o.result.buffered.length).toBeGreaterThan(100);
    expect(o.result.buffered.subarray(0, head.length).equals(head)).toBe(true);
  });

  it('timeout when the deadline passes mid-hello; the socket is left open for the caller', async () => {
    const { port, outcome } = peekOnly(() => ({ deadline: Date.now() + 300 }));
    (await rawClient(await port)).write(fixture.subarray(0, 3));
    const o = await outcome;
    expect(o.result.status).toBe('timeout');
    expect(fixture.subarray(0, o.result.buffered.length).equals(o.result.buffered)).toBe(true);
    expect(o.socket.destroyed).toBe(false);
    expectCleanedUp(o);
  });

  it('timeout at once when the deadline has already passed', async () => {
    const { port, outcome } = peekOnly(() => ({ deadline: Date.now() - 1 }));
    await rawClient(await port);
    const o = await outcome;
    expect(o.result).toEqual({ status: 'timeout', buffered: Buffer.alloc(0) });
    expectCleanedUp(o);
  });

  it('closed when the client ends mid-hello; every byte read is reported', async () => {
    const { port, outcome } = peekOnly(inTenSeconds);
    (await rawClient(await port)).end(fixture.subarray(0, 50));
    const o = await outcome;
    expect(o.result).toEqual({ status: 'closed', buffered: fixture.subarray(0, 50) });
    expectCleanedUp(o);
  });

  it('closed when the client resets the connection', async () => {
    const { port, outcome } = peekOnly(inTenSeconds);
    const client = await rawClient(await port);
    client.write(fixture.subarray(0, 20), () => client.resetAndDestroy());
    const o = await outcome;
    expect(o.result.status).toBe('closed');
    expectCleanedUp(o);
  });
});
