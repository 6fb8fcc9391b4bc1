/**
 * Several audit sinks at once (`"audit": [ … ]`, docs/audit.md). Every event goes to each sink; each keeps its
 * own queue and counters, so a dead receiver or a full disk only costs that sink's events — the others carry on.
 */
import type { AuditSinkStats, CountingAuditSink } from './create-sink.js';
import type { AuditEvent } from './events.js';

/** One sink of a list, with a name for logs and the exit line (`webhook`, `file`, …). */
export interface NamedAuditSink {
  readonly name: string;
  readonly sink: CountingAuditSink;
}

/** Counters of one named sink. */
export interface AuditSinkReport extends AuditSinkStats {
  readonly sink: string;
}

/** The per-sink counters of any counting sink: its parts when it is a fan-out, else itself under `name`. */
export function sinkReports(sink: CountingAuditSink, name = 'audit'): AuditSinkReport[] {
  if (sink.parts) return sink.parts().map((p) => ({ sink: p.name, ...p.sink.stats() }));
  return [{ sink: name, ...sink.stats() }];
}

/** Combine `sinks` into one; `stats()` sums them, `parts()` lists them in order. */
export function createFanOutSink(sinks: readonly NamedAuditSink[]): CountingAuditSink {
  const all = sinks.map((s) => s.sink);
  const each = (fn: (s: CountingAuditSink) => Promise<void>) =>
    Promise.allSettled(all.map((s) => fn(s))).then(() => {});
  return {
    write(event: AuditEvent) {
      for (const s of all) {
        try {
          s.write(event);
        } catch {
          // A sink must not throw; if one does, the others still get the event.
        }
      }
    },
    flush: () => each((s) => s.flush()),
    close: () => each((s) => s.close()),
    abort() {
      for (const s of all) s.abort?.();
    },
    stats(): AuditSinkStats {
      let written = 0;
      let dropped = 0;
      let queued = 0;
      for (const s of all) {
        const st = s.stats();
        written += st.written;
        dropped += st.dropped;
        queued += st.queued;
      }
      return { written, dropped, queued };
    },
    parts: () => sinks,
  };
}
