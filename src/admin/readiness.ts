/**
 * What `/readyz` answers (issue 14): ready while serving (services are loaded before the proxy ever listens) and
 * the agent has answered recently. "Recently" tolerates one missed poll: polls are scheduled a refresh period after the previous
 * one *ends*, so a strict "within one period" would flap on the poll's own timing. With `workers` > 1 the primary
 * asks every worker for its own verdict and is ready only when all are ({@link clusterReadiness}).
 */
import type { CredentialSource } from '../agent/source.js';

/** One worker that is not ready, as the primary's 503 body names it. */
export interface WorkerNotReady {
  readonly worker: number;
  readonly pid: number | undefined;
  /** The worker's own reason (`agent_stale`, `draining`), or `starting` (not bound yet) or `no_reply`. */
  readonly reason: string;
  readonly detail: string;
}

/** The verdict, with a machine-readable reason when not ready (it goes into the 503 body). */
export type Readiness =
  | { readonly ready: true }
  | {
      readonly ready: false;
      readonly reason: 'draining' | 'agent_stale' | 'workers_not_ready';
      readonly detail: string;
      /** With `workers` > 1: which workers are not ready, and why. */
      readonly workers?: readonly WorkerNotReady[];
    };

/** Slack on top of two refresh periods: one agent request may take this long before it counts as failed. */
export const AGENT_REQUEST_SLACK_MS = 5_000;

const DRAINING: Readiness = { ready: false, reason: 'draining', detail: 'the proxy is draining' };

/** Judge readiness from the source's health and the drain state. `now` is injectable for tests. */
export function readiness(source: CredentialSource, draining: boolean, now: number = Date.now()): Readiness {
  if (draining) return DRAINING;
  const health = source.health?.();
  if (health === undefined) return { ready: true };
  const budget = 2 * health.refreshMs + AGENT_REQUEST_SLACK_MS;
  const age = health.lastContactMs === undefined ? Number.POSITIVE_INFINITY : now - health.lastContactMs;
  if (age > budget) {
    const seen = Number.isFinite(age) ? `${Math.round(age)} ms ago` : 'never';
    return {
      ready: false,
      reason: 'agent_stale',
      detail: `the agent last answered ${seen} (allowed: ${budget} ms, two refresh periods plus ${AGENT_REQUEST_SLACK_MS} ms)`,
    };
  }
  return { ready: true };
}

/** One live worker as the primary sees it: its verdict, or why it has none. */
export interface WorkerVerdict {
  readonly worker: number;
  readonly pid: number | undefined;
  readonly verdict: Readiness | 'starting' | 'no_reply';
}

/** The primary's verdict: ready only when it is not draining and every live worker (at least one) is ready. */
export function clusterReadiness(draining: boolean, workers: readonly WorkerVerdict[]): Readiness {
  if (draining) return DRAINING;
  if (workers.length === 0)
    return { ready: false, reason: 'workers_not_ready', detail: 'no worker is running', workers: [] };
  const bad: WorkerNotReady[] = [];
  for (const { worker, pid, verdict } of workers) {
    if (verdict === 'starting')
      bad.push({ worker, pid, reason: 'starting', detail: 'the worker is not listening yet' });
    else if (verdict === 'no_reply')
      bad.push({ worker, pid, reason: 'no_reply', detail: 'the worker did not answer the primary in time' });
    else if (!verdict.ready) bad.push({ worker, pid, reason: verdict.reason, detail: verdict.detail });
  }
  if (bad.length === 0) return { ready: true };
  const names = bad.map((b) => `worker ${b.worker}: ${b.reason}`).join('; ');
  return {
    ready: false,
    reason: 'workers_not_ready',
    detail: `${bad.length} of ${workers.length} workers not ready (${names})`,
    workers: bad,
  };
}
