/** Shared by the pool tests: the pool they make, and the request shape `upstream/forward.ts` uses over its agent. */
import type { Agent, IncomingMessage } from 'node:http';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { expect } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import type { HostPort } from '../../../src/net/host-port.js';
import {
  createUpstreamPool,
  type UpstreamPool,
  type UpstreamPoolOptions,
} from '../../../src/upstream/pool.js';
import { FIXTURE_CA_PEM, loopbackGuard } from '../../helpers/upstream.js';

let current: UpstreamPool | undefined;

/** A pool trusting the fixture CA, with no upstream proxy unless `extra` says so; closePool() closes it. */
export function makePool(extra: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  current = createUpstreamPool({
    extraCa: [FIXTURE_CA_PEM],
    connectTimeoutMs: 5000,
    proxy: undefined,
    guard: loopbackGuard(extra.lookup),
    ...extra,
  });
  return current;
}

/** For afterEach: close the pool the last makePool() made, if any. */
export function closePool(): void {
  current?.close();
  current = undefined;
}

export interface Result {
  status: number;
  body: string;
  socket: Socket;
}

/** The request shape forward.ts uses: http.request over the pool's agent, Host set by hand. */
export function get(agent: Agent, target: HostPort, path: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const req = request({
      agent,
      host: target.host,
      port: target.port,
      method: 'GET',
      path,
      headers: ['Host', target.key],
      setHost: false,
    });
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      // Captured now: the socket is detached (null) once the response ends and it returns to the pool.
      const socket = res.socket;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, socket }));
    });
    req.end();
  });
}

export async function requestError(agent: Agent, target: HostPort): Promise<ProxyError> {
  try {
    await get(agent, target, '/');
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error('expected the request to fail');
}
