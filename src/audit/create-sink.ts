/**
 * Build the configured audit sinks (SPEC §3 `audit`, §10, docs/audit.md): JSON lines on stdout, a rotating 0600
 * file, NDJSON batches to a webhook, OpenTelemetry log records over OTLP — or several of them at once. Each
 * counts what it delivered and what it had to drop, so the operator can see audit loss instead of guessing.
 */
import type { AuditSettings } from '../config/types.js';
import { createFanOutSink, type NamedAuditSink } from './fan-out-sink.js';
import { createFileSink } from './file-sink.js';
import { createOtlpSink } from './otlp-sink.js';
import type { AuditSink } from './sink.js';
import { createStdoutSink } from './stdout-sink.js';
import { createWebhookSink } from './webhook-sink.js';

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
  /**
   * Give up now (the drain deadline passed): stop retrying, abort what is in flight and resolve every pending
   * `flush()`/`close()`. What was not delivered stays in `stats().queued` — the unsent count. Optional: the
   * local sinks have nothing to abort.
   */
  abort?(): void;
  /** The sinks inside a list, by name, in config order (absent for a single sink). */
  parts?(): readonly NamedAuditSink[];
}

/** Options shared by the built-in sinks. */
export interface AuditSinkOptions {
  /**
   * Called for every I/O failure (with the event loss already counted). It must not throw; the caller is expected
   * to log it as an operational error and rate-limit that log. Never receives event contents.
   */
  readonly onError?: (err: Error, sink?: AuditErrorSource) => void;
  /** PEM roots added to the defaults for the shipping sinks' TLS (`upstream_ca_file`). */
  readonly extraCa?: readonly string[];
}

/** Which sink of a list an error came from, with its running dropped count. */
export interface AuditErrorSource {
  readonly sink: string;
  readonly dropped: number;
}

function createOne(settings: AuditSettings, opts: AuditSinkOptions): CountingAuditSink {
  switch (settings.sink) {
    case 'file':
      return createFileSink({
        path: settings.path,
        maxBytes: settings.maxBytes,
        maxFiles: settings.maxFiles,
        onError: opts.onError,
      });
    case 'webhook':
      return createWebhookSink(settings, opts);
    case 'otlp':
      return createOtlpSink(settings, opts);
    default:
      return createStdoutSink(1, opts);
  }
}

/**
 * Create the sink — or the fan-out of sinks — `settings` names. Webhook and OTLP headers must already be
 * resolved (`resolveServe`). Never throws for I/O: a file that cannot be opened yet, or a receiver that is down,
 * is reported through `onError` (with the sink's name and dropped count) and retried (see docs/audit.md).
 */
export function createAuditSink(
  settings: AuditSettings | readonly AuditSettings[],
  opts: AuditSinkOptions = {},
): CountingAuditSink {
  const list: readonly AuditSettings[] = Array.isArray(settings) ? settings : [settings as AuditSettings];
  const named: NamedAuditSink[] = list.map((one) => {
    let sink: CountingAuditSink | undefined;
    const onError = (err: Error) =>
      opts.onError?.(err, { sink: one.sink, dropped: sink ? sink.stats().dropped : 0 });
    sink = createOne(one, { ...opts, onError });
    return { name: one.sink, sink };
  });
  return named.length === 1 ? named[0]!.sink : createFanOutSink(named);
}
