/** Shared by the front-door tests: a passthrough-only proxy in front of a TCP echo target on loopback. */
import { createServer, type Socket } from 'node:net';
import { startTestProxy, type TestProxy, type TestProxyOptions } from '../../helpers/proxy.js';

export interface EchoBehindProxy {
  readonly proxy: TestProxy;
  /** The echo target's port; `127.0.0.1:<targetPort>` is the one passthrough host. */
  readonly targetPort: number;
  /** Close the proxy, then every target connection and the target itself. */
  close(): Promise<void>;
}

/** Start the echo target (`onConnection` sees each socket it accepts) and a proxy tunnelling to it with `limits`. */
export async function startEchoBehindProxy(
  limits: TestProxyOptions['limits'],
  onConnection: (s: Socket) => void = () => {},
): Promise<EchoBehindProxy> {
  const targetSockets = new Set<Socket>();
  const target = createServer((s) => {
    onConnection(s);
    targetSockets.add(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const targetPort = (target.address() as { port: number }).port;
  let proxy: TestProxy;
  try {
    proxy = await startTestProxy({ passthroughHosts: [`127.0.0.1:${targetPort}`], limits });
  } catch (err) {
    target.close();
    throw err;
  }
  return {
    proxy,
    targetPort,
    async close() {
      await proxy.close();
      for (const s of targetSockets) s.destroy();
      await new Promise((r) => target.close(r));
    },
  };
}
