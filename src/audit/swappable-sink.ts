/**
 * An audit sink whose destination can be replaced while the proxy runs (SIGHUP with a changed `audit` section,
 * issue 14). Every connection writes through this one object, so after a swap every event — from old connections
 * too — goes to the new destination, and the old one is flushed and closed behind it.
 */
import type { AuditSinkStats, CountingAuditSink } from './create-sink.js';

/** See the module comment. */
export interface SwappableSink extends CountingAuditSink {
  /** Route every later `write` to `next` (named `name` when it is a single sink), then flush and close the old one. */
  swap(next: CountingAuditSink, name: string): Promise<void>;
}

/** Wrap `initial`; `name` is how a single sink is reported on the `stopped` line (`stdout`, `file`, …). */
export function createSwappableSink(initial: CountingAuditSink, name: string): SwappableSink {
  let current = initial;
  let currentName = name;
  // Totals of retired sinks, so counters exposed as metrics and on the `stopped` line never go down on a reload.
  let retired = { written: 0, dropped: 0 };
  return {
    write: (event) => current.write(event),
    flush: () => current.flush(),
    close: () => current.close(),
    abort: () => current.abort?.(),
    parts: () => current.parts?.() ?? [{ name: currentName, sink: current }],
    async swap(next) {
      const old = current;
      current = next;
      currentName = name;
      // close() flushes: what the old sink still held is written (or counted as dropped) before its figures join
      // the retired totals.
      await old.close();
      const s = old.stats();
      retired = { written: retired.written + s.written, dropped: retired.dropped + s.dropped };
    },
    stats(): AuditSinkStats {
      const s = current.stats();
      return { written: retired.written + s.written, dropped: retired.dropped + s.dropped, queued: s.queued };
    },
  };
}
