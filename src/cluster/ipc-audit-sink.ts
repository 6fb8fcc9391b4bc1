/**
 * Audit "exactly once" with several worker processes (issue 14, `workers`): a worker does not own an audit
 * destination. Its sink forwards each event over the cluster IPC channel to the primary, which owns the one set of
 * sinks (a rotating file with several writers would corrupt; a webhook would get N connections and N queues). The
 * primary side is {@link receiveAuditEvents}. `flush()` resolves once every event written so far has been handed
 * to the channel, so a worker that drains and then exits has lost nothing it audited.
 */
import type { AuditEvent } from '../audit/events.js';
import type { AuditSink } from '../audit/sink.js';
import type { TurnBarrier } from '../audit/turn-barrier.js';

/** The IPC message that carries the events of one turn of the worker's event loop. */
export interface AuditMessage {
  readonly type: 'clef-audit';
  readonly events: readonly AuditEvent[];
}

/** The part of a process (or a cluster `Worker`) the sink and the receiver use. */
export interface IpcChannel {
  send(message: unknown, callback?: (err: Error | null) => void): boolean;
  readonly connected?: boolean;
}

/**
 * A worker's sink: every event goes to the primary. `onDrop` is told of events the channel refused. With a
 * `barrier`, the events of one turn go as one message when it releases (before the writes it holds); without, each
 * goes at once in its own.
 */
export function createIpcAuditSink(
  channel: IpcChannel,
  onDrop: (n: number) => void = () => {},
  barrier?: TurnBarrier,
): AuditSink {
  let pending = 0;
  let waiters: Array<() => void> = [];
  const settle = () => {
    pending--;
    if (pending === 0) {
      const w = waiters;
      waiters = [];
      for (const fn of w) fn();
    }
  };
  const sent = () =>
    pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve));
  const send = (events: AuditEvent[]) => {
    if (channel.connected === false) return onDrop(events.length);
    pending++;
    try {
      channel.send({ type: 'clef-audit', events } satisfies AuditMessage, (err) => {
        if (err) onDrop(events.length);
        settle();
      });
    } catch {
      onDrop(events.length);
      settle();
    }
  };
  let batch: AuditEvent[] = [];
  const sendBatch = () => {
    if (batch.length === 0) return;
    const events = batch;
    batch = [];
    send(events);
  };
  barrier?.beforeRelease(sendBatch);
  const flush = () => {
    sendBatch();
    return sent();
  };
  return {
    write(event) {
      if (barrier === undefined) return send([event]);
      batch.push(event);
      barrier.touch();
    },
    flush,
    close: flush,
  };
}

/** True for an {@link AuditMessage}. */
export function isAuditMessage(message: unknown): message is AuditMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'clef-audit' &&
    Array.isArray((message as { events?: unknown }).events)
  );
}

/** Primary side: write every audit event a worker sends into `sink`. Returns the unsubscribe function. */
export function receiveAuditEvents(
  worker: {
    on(e: 'message', l: (m: unknown) => void): unknown;
    off(e: 'message', l: (m: unknown) => void): unknown;
  },
  sink: AuditSink,
): () => void {
  const onMessage = (m: unknown) => {
    if (isAuditMessage(m)) for (const event of m.events) sink.write(event);
  };
  worker.on('message', onMessage);
  return () => worker.off('message', onMessage);
}
