/**
 * A real corporate-style forward proxy on loopback (proxy-chain's Server) for chaining tests (SPEC §7). It
 * records the target of every CONNECT it sees (the raw authority from the request line, so an IPv6 target shows
 * its brackets) and, with `username`/`password`, answers 407 to anything else.
 */
import { readFileSync } from 'node:fs';
import { Server } from 'proxy-chain';
import { fixturePath } from './upstream.js';

export interface StartChainProxyOptions {
  readonly username?: string;
  readonly password?: string;
  /** Serve the proxy itself over TLS with the fixture upstream certificate (an `https://` proxy). */
  readonly tls?: boolean;
}

export interface TestChainProxy {
  readonly port: number;
  /** `http://127.0.0.1:<port>` (or https), with percent-encoded userinfo when auth is on. */
  readonly url: string;
  /** Targets of every CONNECT seen, authorised or not, e.g. `127.0.0.1:4431`. */
  readonly connects: string[];
  /** Absolute-form URLs of plain HTTP requests seen. */
  readonly httpRequests: string[];
  close(): Promise<void>;
}

/** Start a chain proxy on 127.0.0.1 port 0. Call `close()` in afterEach/afterAll. */
export async function startChainProxy(opts: StartChainProxyOptions = {}): Promise<TestChainProxy> {
  const connects: string[] = [];
  const httpRequests: string[] = [];
  const auth = opts.username !== undefined || opts.password !== undefined;
  const base = {
    port: 0,
    host: '127.0.0.1',
    prepareRequestFunction: ({
      request,
      username,
      password,
      isHttp,
    }: {
      request: { url?: string };
      username: string;
      password: string;
      isHttp: boolean;
    }) => {
      (isHttp ? httpRequests : connects).push(request.url ?? '');
      const ok = !auth || (username === (opts.username ?? '') && password === (opts.password ?? ''));
      return { requestAuthentication: !ok };
    },
  };
  const server = opts.tls
    ? new Server({
        ...base,
        serverType: 'https',
        httpsOptions: {
          key: readFileSync(fixturePath('upstream.key')),
          cert: readFileSync(fixturePath('upstream.crt')),
        },
      })
    : new Server(base);
  await server.listen();
  const userinfo = auth
    ? `${encodeURIComponent(opts.username ?? '')}:${encodeURIComponent(opts.password ?? '')}@`
    : '';
  return {
    port: server.port,
    url: `${opts.tls ? 'https' : 'http'}://${userinfo}127.0.0.1:${server.port}`,
    connects,
    httpRequests,
    close: () => server.close(true),
  };
}
