/**
 * What `/readyz` answers (issue 14): ready while serving (services are loaded before the proxy ever listens) and
 * the agent has answered recently. "Recently" tolerates one missed poll: polls are scheduled a refresh period after the previous
 * one *ends*, so a strict "within one period" would flap on the poll's own timing.
 */
import type { CredentialSource } from '../agent/source.js';

/** The verdict, with a machine-readable reason when not ready (it goes into the 503 body). */
export type Readiness =
  | { readonly ready: true }
  | { readonly ready: false; readonly reason: 'draining' | 'agent_stale'; readonly detail: string };

/** Slack on top of two refresh periods: one agent request may take this long before it counts as failed. */
export const AGENT_REQUEST_SLACK_MS = 5_000;

/** Judge readiness from the source's health and the drain state. `now` is injectable for tests. */
export function readiness(source: CredentialSource, draining: boolean, now: number = Date.now()): Readiness {
  if (draining) return { ready: false, reason: 'draining', detail: 'the proxy is draining' };
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
