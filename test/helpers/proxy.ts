/**
 * Start a real clef-proxy in-process for integration tests: a temp CA directory, a static source (or any source),
 * the fixture upstream CA as an extra root, every `*.test` name resolved to 127.0.0.1 (loopback allowed through the
 * destination guard), and an audit capture.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CredentialSource } from '../../src/agent/source.js';
import { createStaticSource, type StaticSourceOptions } from '../../src/agent/static-source.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { type RunningProxy, type StartProxyOptions, startProxy } from '../../src/proxy.js';
import { FIXTURE_CA_PEM, lookupTo, TEST_ALLOW_PRIVATE } from './upstream.js';

export const WORKLOAD_TOKEN = 'test-workload-token';

/** `Proxy-Authorization` value for the test token (or another password). */
export function basicAuth(password: string = WORKLOAD_TOKEN, user = 'workload'): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export interface TestProxy {
  readonly proxy: RunningProxy;
  readonly port: number;
  /** `http://workload:<token>@127.0.0.1:<port>` for clients that take userinfo. */
  readonly urlWithAuth: string;
  readonly events: AuditEvent[];
  readonly caDir: string;
  /** Resolves once `n` audit events have been written (events are written when work completes). */
  waitForEvents(n: number, timeoutMs?: number): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

export type TestProxyOptions = Partial<Omit<StartProxyOptions, 'source' | 'ca'>> & {
  readonly source?: CredentialSource;
  /** Shorthand for a static source. */
  readonly services?: StaticSourceOptions['services'];
  readonly secrets?: StaticSourceOptions['secrets'];
  /** Called synchronously with each audit event as the proxy writes it. */
  readonly onAudit?: (e: AuditEvent) => void;
};

export async function startTestProxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  const caDir = await mkdtemp(join(tmpdir(), 'clef-proxy-test-ca-'));
  const events: AuditEvent[] = [];
  const waiters = new Set<() => void>();
  const source =
    opts.source ?? createStaticSource({ services: opts.services ?? [], secrets: opts.secrets ?? {} });
  const { services: _s, secrets: _k, source: _src, onAudit, ...rest } = opts;
  const proxy = await startProxy({
    workloadToken: WORKLOAD_TOKEN,
    upstreamCa: FIXTURE_CA_PEM,
    lookup: lookupTo('127.0.0.1'),
    // Every test upstream is on loopback, which the destination guard refuses unless listed (as a real config must).
    egress: { allowPrivate: TEST_ALLOW_PRIVATE },
    ...rest,
    ca: { dir: caDir },
    source,
    audit: (e) => {
      onAudit?.(e);
      events.push(e);
      for (const w of waiters) w();
    },
  });
  return {
    proxy,
    port: proxy.port,
    urlWithAuth: `http://workload:${WORKLOAD_TOKEN}@127.0.0.1:${proxy.port}`,
    events,
    caDir,
    waitForEvents(n, timeoutMs = 5_000) {
      if (events.length >= n) return Promise.resolve(events);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${n} audit events, got ${events.length}: ${JSON.stringify(events)}`));
        }, timeoutMs);
        const check = () => {
          if (events.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(events);
        };
        waiters.add(check);
      });
    },
    async close() {
      await proxy.close();
      await rm(caDir, { recursive: true, force: true });
    },
  };
}

/** Open a TCP connection to the proxy. */
export function connectTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Read from `socket` until it closes (or `timeoutMs`), returning everything received. */
export function readAll(socket: Socket, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/**
 * Read until the end of an HTTP response head (`\r\n\r\n`); resolves with the head text and any extra bytes.
 * The default wait is long (15 s, under the 20 s test timeout): on a loaded 2-core machine a proxy busy minting
 * leaves for a batch of new hosts may take seconds to answer, and the deadline is only a backstop.
 */
export function readResponseHead(
  socket: Socket,
  timeoutMs = 15_000,
): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(
      () => done(new Error(`no response head within ${timeoutMs} ms: ${buf.toString('latin1')}`)),
      timeoutMs,
    );
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0)
        done(undefined, { head: buf.subarray(0, end + 4).toString('latin1'), rest: buf.subarray(end + 4) });
    };
    const onClose = () =>
      done(new Error(`closed before a response head: ${JSON.stringify(buf.toString('latin1'))}`));
    function done(err?: Error, value?: { head: string; rest: Buffer }) {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(value!);
    }
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/**
 * Send `CONNECT target` (with the test token unless `auth` is given or null) and read the answer head.
 * On a 200 the socket is a tunnel, ready for `tls.connect({ socket })`.
 */
export async function connectThrough(
  port: number,
  target: string,
  auth: string | null = basicAuth(),
): Promise<{ socket: Socket; status: number; head: string; rest: Buffer }> {
  const socket = await connectTo(port);
  socket.write(
    `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth === null ? '' : `Proxy-Authorization: ${auth}\r\n`}\r\n`,
  );
  const { head, rest } = await readResponseHead(socket);
  const status = Number(head.split(' ', 3)[1]);
  return { socket, status, head, rest };
}
