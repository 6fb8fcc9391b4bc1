/** Where audit events go (SPEC §10, §11): stdout, a rotating file, or any function. */
import type { AuditEvent } from './events.js';

export interface AuditSink {
  /** Must not block the hot path and must not throw. */
  write(event: AuditEvent): void;
  /** Resolve once every event written so far is durably handed to its destination. */
  flush(): Promise<void>;
  /** Flush and release the destination. */
  close(): Promise<void>;
}

/** Wrap a function as a sink (library use). A throwing function never breaks the request it audits. */
export function fromFunction(fn: (event: AuditEvent) => void): AuditSink {
  return {
    write(event) {
      try {
        fn(event);
      } catch {
        // A broken test or embedding callback must not take a connection down.
      }
    },
    async flush() {},
    async close() {},
  };
}

/** A sink that drops everything (an embedding that does not care). */
export const nullSink: AuditSink = { write() {}, async flush() {}, async close() {} };
