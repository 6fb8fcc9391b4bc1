/**
 * Build the configured audit sink (SPEC §3 `audit`, §10): JSON lines on stdout, or a rotating 0600 file. Both
 * count what they wrote and what they had to drop, so the operator can see audit loss instead of guessing.
 */
import type { AuditSettings } from '../config/types.js';
import { createFileSink } from './file-sink.js';
import type { AuditSink } from './sink.js';
import { createStdoutSink } from './stdout-sink.js';

/** Counters a built-in sink keeps since it was created. */
export interface AuditSinkStats {
  /** Events handed to the destination (stdout) or written to the file. */
  readonly written: number;
  /** Events lost: I/O errors, a full buffer, unknown event kinds, writes after close. */
  readonly dropped: number;
  /** Events accepted but not yet written or dropped. */
  readonly queued: number;
}

/** An {@link AuditSink} that also reports its counters. */
export interface CountingAuditSink extends AuditSink {
  stats(): AuditSinkStats;
}

/** Options shared by the built-in sinks. */
export interface AuditSinkOptions {
  /**
   * Called for every I/O failure (with the event loss already counted). It must not throw; the caller is expected
   * to log it as an operational error and rate-limit that log. Never receives event contents.
   */
  readonly onError?: (err: Error) => void;
}

/**
 * Create the sink `settings` names. Never throws for I/O: a file that cannot be opened yet is reported through
 * `onError` on the first write and retried on later ones (see docs/audit.md).
 */
export function createAuditSink(settings: AuditSettings, opts: AuditSinkOptions = {}): CountingAuditSink {
  if (settings.sink === 'file') {
    return createFileSink({
      path: settings.path,
      maxBytes: settings.maxBytes,
      maxFiles: settings.maxFiles,
      onError: opts.onError,
    });
  }
  return createStdoutSink(1, opts);
}
