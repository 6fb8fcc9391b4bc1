/**
 * A real WebSocket upstream (the `ws` package) over TLS with the fixture certificate, for the WebSocket suites.
 * It records every upgrade request as it arrived, echoes messages by default, and can refuse a handshake with an
 * ordinary HTTP answer. Plain (non-upgrade) requests get a small 200.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { fixturePath } from './upstream.js';

/** One upgrade request as the upstream saw it. */
export interface SeenUpgrade {
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly headers: IncomingMessage['headers'];
}

/** How the server-side WebSocket ended, as `ws` reports it. */
export interface ServerClose {
  readonly code: number;
  readonly reason: string;
}

export interface WsUpstreamOptions {
  /** Answer the upgrade with this raw HTTP response instead of switching (then the socket is closed). */
  readonly refuse?: string;
  /** Called for each accepted WebSocket; the default echoes every message back as it came. */
  readonly onConnection?: (ws: WebSocket, req: IncomingMessage) => void;
}

export interface WsUpstream {
  readonly port: number;
  readonly upgrades: SeenUpgrade[];
  /** Server-side sockets, in accept order. */
  readonly sockets: WebSocket[];
  /** Resolves with how the n-th (0-based) accepted WebSocket closed on the server side. */
  closed(n: number): Promise<ServerClose>;
  close(): Promise<void>;
}

/** Echo each message with its type (text stays text, binary stays binary). */
export function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

export async function startWsUpstream(opts: WsUpstreamOptions = {}): Promise<WsUpstream> {
  const server = createServer({
    key: readFileSync(fixturePath('upstream.key')),
    cert: readFileSync(fixturePath('upstream.crt')),
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  const upgrades: SeenUpgrade[] = [];
  const sockets: WebSocket[] = [];
  const closes: Promise<ServerClose>[] = [];
  const raw = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    raw.add(s);
    s.once('close', () => raw.delete(s));
  });
  server.on('request', (_req, res) => res.end('plain'));
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push({ url: req.url ?? '', rawHeaders: [...req.rawHeaders], headers: req.headers });
    socket.on('error', () => {});
    if (opts.refuse !== undefined) {
      socket.end(opts.refuse);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws);
      ws.on('error', () => {});
      closes.push(
        new Promise((resolve) =>
          ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
        ),
      );
      (opts.onConnection ?? echo)(ws, req);
    });
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    upgrades,
    sockets,
    async closed(n) {
      while (closes[n] === undefined) await new Promise((r) => setTimeout(r, 20));
      return closes[n]!;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of raw) s.destroy();
        wss.close();
        server.close(() => resolve());
      }),
  };
}
