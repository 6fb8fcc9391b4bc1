/**
 * Audit "exactly once" with several worker processes (issue 14, `workers`): a worker does not own an audit
 * destination. Its sink forwards each event over the cluster IPC channel to the primary, which owns the one set of
 * sinks (a rotating file with several writers would corrupt; a webhook would get N connections and N queues). The
 * primary side is {@link receiveAuditEvents}. `flush()` resolves once every event sent so far has been handed to
 * the channel, so a worker that drains and then exits has lost nothing it audited.
 */
import type { AuditEvent } from '../audit/events.js';
import type { AuditSink } from '../audit/sink.js';

/** The IPC message that carries one event. */
export interface AuditMessage {
  readonly type: 'clef-audit';
  readonly event: AuditEvent;
}

/** The part of a process (or a cluster `Worker`) the sink and the receiver use. */
export interface IpcChannel {
  send(message: unknown, callback?: (err: Error | null) => void): boolean;
  readonly connected?: boolean;
}

/** A worker's sink: every event goes to the primary. `onDrop` is told of events the channel refused. */
export function createIpcAuditSink(channel: IpcChannel, onDrop: () => void = () => {}): AuditSink {
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
  const flush = () =>
    pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve));
  return {
    write(event) {
      if (channel.connected === false) return onDrop();
      pending++;
      try {
        channel.send({ type: 'clef-audit', event } satisfies AuditMessage, (err) => {
          if (err) onDrop();
          settle();
        });
      } catch {
        onDrop();
        settle();
      }
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
    typeof (message as { event?: unknown }).event === 'object'
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
    if (isAuditMessage(m)) sink.write(m.event);
  };
  worker.on('message', onMessage);
  return () => worker.off('message', onMessage);
}
