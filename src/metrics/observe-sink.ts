/**
 * The metrics observer: an {@link AuditSink} in front of the real one that counts each event into the tally before
 * handing it on. Request, refusal, upstream-error and duration metrics come from here, so the hot path pays one
 * map update per request and nothing else (docs/performance.md).
 */
import type { AuditSink } from '../audit/sink.js';
import type { Tally } from './tally.js';

/** Wrap `inner` so every written event is also counted in `tally`. Never throws from `write`. */
export function observingSink(inner: AuditSink, tally: Tally): AuditSink {
  return {
    write(event) {
      try {
        tally.observe(event);
      } catch {
        // Counting must never cost an audit line.
      }
      inner.write(event);
    },
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
}
