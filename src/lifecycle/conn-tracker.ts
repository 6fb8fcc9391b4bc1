/**
 * Live client connections and what each is doing, for `max_connections` (SPEC §6) and the drain (SPEC §8).
 * A connection is *busy* while a request is in flight or a tunnel is open; an idle one can be closed at once when
 * the proxy drains. Work ends (`begin()`'s return) only after its audit event is written, so a drain that resolves
 * has every event already in the sink.
 */
import type { Socket } from 'node:net';

interface Entry {
  busy: number;
  /** The socket to destroy: the raw one, or the TLS socket layered on it once interception starts. */
  closer: Socket;
  /** Sockets that live and die with this connection (a tunnel's upstream side). */
  readonly extras: Socket[];
}

export interface ConnTracker {
  /** Client connections open now (what `max_connections` counts). */
  readonly size: number;
  readonly draining: boolean;
  /** Connections accepted plus work begun since the start: grows with any activity (the idle trim watches it). */
  readonly started: number;
  add(socket: Socket): void;
  /** Interception layered `outer` (a TLS socket) on `socket`: close through it from now on. */
  layer(socket: Socket, outer: Socket): void;
  /** `extra` (e.g. a tunnel's upstream socket) is destroyed with `socket` when the proxy closes. */
  attach(socket: Socket, extra: Socket): void;
  /** Mark work starting on `socket`; returns the matching `end`, safe to call more than once. */
  begin(socket: Socket): () => void;
  /**
   * Stop: close idle connections now, wait for busy ones up to `timeoutMs`, then destroy what is left.
   * Resolves when every connection is closed and every piece of work has ended.
   */
  drain(timeoutMs: number): Promise<void>;
  /** Destroy everything at once (a second signal, or `close()`). */
  destroyAll(): void;
}

export function createConnTracker(): ConnTracker {
  const live = new Map<Socket, Entry>();
  let busyTotal = 0;
  let started = 0;
  let draining = false;
  let onQuiet: (() => void) | undefined;

  const checkQuiet = () => {
    if (live.size === 0 && busyTotal === 0) onQuiet?.();
  };
  const destroy = (entry: Entry) => {
    entry.closer.destroy();
    for (const s of entry.extras) s.destroy();
  };
  const remove = (socket: Socket) => {
    if (live.delete(socket)) checkQuiet();
  };

  return {
    get size() {
      return live.size;
    },
    get draining() {
      return draining;
    },
    get started() {
      return started;
    },
    add(socket) {
      started++;
      live.set(socket, { busy: 0, closer: socket, extras: [] });
      socket.once('close', () => remove(socket));
    },
    layer(socket, outer) {
      const entry = live.get(socket);
      if (!entry) return;
      entry.closer = outer;
      // A TLS socket may close without its transport reporting 'close' first; count it gone either way.
      outer.once('close', () => remove(socket));
    },
    attach(socket, extra) {
      live.get(socket)?.extras.push(extra);
    },
    begin(socket) {
      const entry = live.get(socket);
      started++;
      busyTotal++;
      if (entry) entry.busy++;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        busyTotal--;
        if (entry) {
          entry.busy--;
          // Let the response that just finished flush before closing a draining connection.
          if (draining && entry.busy === 0) setImmediate(() => entry.closer.end());
        }
        checkQuiet();
      };
    },
    drain(timeoutMs) {
      draining = true;
      for (const entry of live.values()) if (entry.busy === 0) destroy(entry);
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const entry of live.values()) destroy(entry);
        }, timeoutMs);
        onQuiet = () => {
          clearTimeout(timer);
          resolve();
        };
        checkQuiet();
      });
    },
    destroyAll() {
      draining = true;
      for (const entry of live.values()) destroy(entry);
    },
  };
}
