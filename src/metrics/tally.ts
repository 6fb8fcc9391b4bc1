/**
 * The per-request metrics, counted from audit events (issue 14): one event per request already carries service,
 * decision, status, reason and duration, so observing it costs a map lookup and a few additions on the hot path,
 * and prom-client only formats the totals at scrape time (`registry.ts`).
 *
 * Label values come from closed sets (decision, status class, the §6/§10 reason table) or from service names,
 * which the agent defines: those are capped at {@link MAX_SERVICE_LABELS} distinct values, the rest fold into
 * `other`. Nothing here ever sees a path, query, header, token or secret (the event types hold none).
 */
import type { AuditEvent } from '../audit/events.js';

/** Distinct service label values kept before the rest fold into `other`. */
export const MAX_SERVICE_LABELS = 100;

/** Request duration buckets in seconds (upper bounds; `+Inf` is implied). */
export const DURATION_BUCKETS_S: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

/** One `clef_proxy_requests_total` series. */
export interface RequestSeries {
  readonly service: string;
  readonly decision: string;
  readonly statusClass: string;
  n: number;
}

/** One decision's duration histogram: per-bucket (not cumulative) counts, the last one is `+Inf`. */
export interface DurationSeries {
  readonly buckets: number[];
  sum: number;
  count: number;
}

/** Everything counted so far; read by the registry at scrape time. */
export interface Tally {
  observe(event: AuditEvent): void;
  readonly requests: ReadonlyMap<string, RequestSeries>;
  readonly denied: ReadonlyMap<string, number>;
  readonly upstreamErrors: ReadonlyMap<string, number>;
  readonly durations: ReadonlyMap<string, DurationSeries>;
  /** Events observed (what was handed to the audit sink). */
  readonly events: number;
}

const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

const CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx', '7xx', '8xx', '9xx'];

/** `2xx`…`5xx`, or `none` when nothing reached the client; a table, so the hot path allocates no string. */
function statusClass(status: number | null | undefined): string {
  if (status === null || status === undefined) return 'none';
  return CLASSES[Math.trunc(status / 100)] ?? 'none';
}

/** Create an empty tally. One per proxy (or per primary, which sees every worker's events). */
export function createTally(): Tally {
  const requests = new Map<string, RequestSeries>();
  // service → decision → class → series: three lookups and no key string built per event.
  const index = new Map<string, Map<string, Map<string, RequestSeries>>>();
  const denied = new Map<string, number>();
  const upstreamErrors = new Map<string, number>();
  const durations = new Map<string, DurationSeries>();
  const services = new Set<string>();
  let events = 0;

  const serviceLabel = (name: string | null): string => {
    if (name === null) return '';
    if (services.has(name)) return name;
    if (services.size >= MAX_SERVICE_LABELS) return 'other';
    services.add(name);
    return name;
  };

  const observeDuration = (decision: string, ms: number) => {
    let series = durations.get(decision);
    if (series === undefined) {
      series = { buckets: new Array<number>(DURATION_BUCKETS_S.length + 1).fill(0), sum: 0, count: 0 };
      durations.set(decision, series);
    }
    const s = ms / 1000;
    let i = 0;
    while (i < DURATION_BUCKETS_S.length && s > DURATION_BUCKETS_S[i]!) i++;
    series.buckets[i]!++;
    series.sum += s;
    series.count++;
  };

  return {
    observe(ev) {
      events++;
      const service = ev.event === 'request' ? serviceLabel(ev.service) : '';
      const cls = statusClass(ev.event === 'tunnel' ? undefined : ev.status);
      let byDecision = index.get(service);
      if (byDecision === undefined) {
        byDecision = new Map();
        index.set(service, byDecision);
      }
      let byClass = byDecision.get(ev.decision);
      if (byClass === undefined) {
        byClass = new Map();
        byDecision.set(ev.decision, byClass);
      }
      const series = byClass.get(cls);
      if (series) series.n++;
      else {
        const fresh = { service, decision: ev.decision, statusClass: cls, n: 1 };
        byClass.set(cls, fresh);
        requests.set(`${service}\u0000${ev.decision}\u0000${cls}`, fresh);
      }
      const reason = ev.reason;
      if (reason !== undefined) {
        if (ev.decision === 'deny') bump(denied, reason);
        if (reason.startsWith('upstream_')) bump(upstreamErrors, reason);
      }
      if (ev.event === 'request') observeDuration(ev.decision, ev.duration_ms);
    },
    requests,
    denied,
    upstreamErrors,
    durations,
    get events() {
      return events;
    },
  };
}
