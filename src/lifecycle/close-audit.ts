/**
 * Close the audit sinks by a deadline (SPEC §8 drain, docs/audit.md): every sink gets until `deadline` to deliver
 * what it holds; then the shipping sinks are aborted and what they still hold is counted as unsent. Returns the
 * figures the `stopped` line reports, so an operator can see exactly how many events a shutdown cost.
 */
import type { CountingAuditSink } from '../audit/create-sink.js';
import { type AuditSinkReport, sinkReports } from '../audit/fan-out-sink.js';

/** What the audit sinks did over the process's life, as the exit line reports it. */
export interface AuditExitReport {
  /** Events delivered, by every sink together. */
  readonly audit_written: number;
  /** Events lost while running (queue overflow, refused batches, I/O errors). */
  readonly audit_dropped: number;
  /** Events still held when the deadline passed: never delivered. */
  readonly audit_unsent: number;
  /** The same per sink, in config order. */
  readonly audit_sinks: readonly AuditSinkReport[];
}

/** How long past the deadline a stdout or file sink may take to finish its last write. */
export const LOCAL_GRACE_MS = 1000;

/** Resolve after `ms` (≤ 0: on the next turn); the timer does not keep the process alive. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
}

/**
 * Close `sink`, waiting at most until `deadline` (a `Date.now()` value). A sink that has not finished by then is
 * aborted (`abort()`), and the close is awaited no longer.
 */
export async function closeAuditBy(
  sink: CountingAuditSink,
  deadline: number,
  name: string,
): Promise<AuditExitReport> {
  const closed = sink.close().catch(() => {});
  await Promise.race([closed, delay(deadline - Date.now())]);
  sink.abort?.();
  // An aborted shipping sink settles at once. The local sinks cannot be aborted; a file or stdout close that is
  // merely finishing its last write gets a short grace, a stdout reader that stopped reading does not hold exit.
  await Promise.race([closed, delay(LOCAL_GRACE_MS)]);
  const parts = sinkReports(sink, name);
  let written = 0;
  let dropped = 0;
  let unsent = 0;
  for (const p of parts) {
    written += p.written;
    dropped += p.dropped;
    unsent += p.queued;
  }
  return { audit_written: written, audit_dropped: dropped, audit_unsent: unsent, audit_sinks: parts };
}

/** Resolve with `work` or at `deadline`, whichever comes first. */
export function until(work: Promise<void>, deadline: number): Promise<void> {
  return Promise.race([work, delay(deadline - Date.now())]);
}
