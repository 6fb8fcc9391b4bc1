/**
 * The primary's side of the `clef-stats-req` / `clef-stats` round trip (issue 14, admin with `workers` > 1): ask
 * every bound worker at once and wait for each answer, but never longer than a bound — a worker that is stuck or
 * dying must not hang the probe. A worker that has not answered by then counts as `no_reply`.
 */
import { isStatsReport, type StatsReport, type StatsRequest } from './messages.js';

/** How long one `/readyz` or `/metrics` waits for the workers' answers. */
export const STATS_TIMEOUT_MS = 1_500;

/** A worker the primary can ask. */
export interface StatsTarget {
  readonly id: number;
  send(message: StatsRequest): void;
}

/** Correlates requests with answers; `receive` is fed every message from every worker. */
export interface StatsCollector {
  /** Take `message` from worker `workerId` if it is a stats report for a pending request. */
  receive(workerId: number, message: unknown): void;
  /** Ask every target; resolves with each one's report, or undefined for those that did not answer in time. */
  collect(targets: readonly StatsTarget[]): Promise<Map<number, StatsReport | undefined>>;
}

/** Create a collector. */
export function createStatsCollector(timeoutMs: number = STATS_TIMEOUT_MS): StatsCollector {
  let seq = 0;
  // request id → worker id → the callback that records its answer
  const waiting = new Map<number, Map<number, (r: StatsReport) => void>>();
  return {
    receive(workerId, message) {
      if (isStatsReport(message)) waiting.get(message.id)?.get(workerId)?.(message);
    },
    collect(targets) {
      const id = ++seq;
      const pending = new Map<number, (r: StatsReport) => void>();
      const results = new Map<number, StatsReport | undefined>();
      waiting.set(id, pending);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(results);
        };
        const timer = setTimeout(done, timeoutMs);
        timer.unref();
        for (const t of targets) {
          results.set(t.id, undefined);
          pending.set(t.id, (r) => {
            results.set(t.id, r);
            pending.delete(t.id);
            if (pending.size === 0) done();
          });
        }
        for (const t of targets) {
          try {
            t.send({ type: 'clef-stats-req', id });
          } catch {
            // A worker whose channel just closed stays `no_reply`.
          }
        }
        if (pending.size === 0) done();
      });
    },
  };
}
