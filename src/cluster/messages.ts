/**
 * The IPC messages between the `serve` primary and its workers (issue 14), other than audit events
 * (`ipc-audit-sink.ts`). The CA key travels only here: the IPC channel is a private socketpair, never the
 * environment or a file.
 */
import type { Readiness } from '../admin/readiness.js';
import type { ProxyGauges } from '../metrics/registry.js';

/** Primary → worker, once, in answer to `clef-hello`: the CA and the port to listen on. */
export interface InitMessage {
  readonly type: 'clef-init';
  readonly certPem: string;
  readonly keyPem: string;
  readonly port: number;
}

/** Primary → worker: stop accepting, finish in-flight work within `timeoutMs`, flush audit, exit 0. */
export interface DrainMessage {
  readonly type: 'clef-drain';
  readonly timeoutMs: number;
}

/** Primary → worker on SIGHUP: re-read the config file, take this CA, refresh services. */
export interface ReloadMessage {
  readonly type: 'clef-reload';
  readonly certPem: string;
  readonly keyPem: string;
}

/** Primary → worker, per admin request (`/readyz`, `/metrics`): answer with a {@link StatsReport} carrying `id`. */
export interface StatsRequest {
  readonly type: 'clef-stats-req';
  readonly id: number;
}

/** Worker → primary: this worker's readiness (as its own admin would answer) and its scrape-time figures. */
export interface StatsReport {
  readonly type: 'clef-stats';
  readonly id: number;
  readonly ready: Readiness;
  readonly gauges: ProxyGauges;
}

/**
 * Worker → primary: ready for `clef-init` (a message sent before the worker listens for it would be lost, so
 * the worker asks), then the proxy is listening (the primary logs the one `listening` line) or could not bind. */
export type WorkerReport =
  | { readonly type: 'clef-hello' }
  | { readonly type: 'clef-listening'; readonly address: string; readonly port: number }
  | { readonly type: 'clef-failed'; readonly reason: string }
  | StatsReport;

export type ClusterMessage = InitMessage | DrainMessage | ReloadMessage | StatsRequest | WorkerReport;

const TYPES = new Set([
  'clef-init',
  'clef-drain',
  'clef-reload',
  'clef-listening',
  'clef-failed',
  'clef-hello',
  'clef-stats-req',
  'clef-stats',
]);

/** True for one of our {@link ClusterMessage}s. */
export function isClusterMessage(m: unknown): m is ClusterMessage {
  return typeof m === 'object' && m !== null && TYPES.has(String((m as { type?: unknown }).type));
}

const GAUGE_KEYS: ReadonlyArray<keyof ProxyGauges> = [
  'openConnections',
  'leafCacheSize',
  'leafCacheHits',
  'leafCacheMisses',
  'upstreamSocketsActive',
  'upstreamSocketsIdle',
  'secretCacheHits',
  'secretCacheMisses',
  'agentRefreshFailures',
  'auditWritten',
  'auditDropped',
];

/**
 * True for a well-formed {@link StatsReport}: the primary adds these numbers into `/metrics` and puts the reason
 * into the `/readyz` body, so every field is checked, not just the type.
 */
export function isStatsReport(m: unknown): m is StatsReport {
  if (!isClusterMessage(m) || m.type !== 'clef-stats') return false;
  const r = m as { id?: unknown; ready?: unknown; gauges?: unknown };
  if (!Number.isSafeInteger(r.id)) return false;
  const ready = r.ready as { ready?: unknown; reason?: unknown; detail?: unknown } | null;
  if (typeof ready !== 'object' || ready === null) return false;
  const notReady =
    ready.ready === false && typeof ready.reason === 'string' && typeof ready.detail === 'string';
  if (ready.ready !== true && !notReady) return false;
  const g = r.gauges as Record<string, unknown> | null;
  if (typeof g !== 'object' || g === null) return false;
  return GAUGE_KEYS.every((k) => typeof g[k] === 'number' && Number.isFinite(g[k]) && (g[k] as number) >= 0);
}
