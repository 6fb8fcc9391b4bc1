/**
 * The `request` audit event of a forwarded request, written exactly once (SPEC §10), for the three places that
 * forward one (pipeline/run.ts, pipeline/run-h2.ts, http/forward-plain.ts). With an audit barrier
 * (`StartProxyOptions.auditBeforeLastByte`) the forwarder reports the outcome early ({@link EarlyAudit}) and the
 * caller's report after the await is then a no-op; without one, the caller's report is the only one.
 */
import { forwardedRequestEvent, type RequestIdentity } from '../audit/emit.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import type { HostPort } from '../net/host-port.js';
import type { EarlyAudit, ForwardOutcome } from '../upstream/forward.js';

export interface ForwardedAudit {
  /** Write the event; with `early` set, only the first call writes. */
  readonly audit: (outcome: ForwardOutcome) => void;
  /** For the forwarder: set when the proxy audits before the response's last bytes. */
  readonly early: EarlyAudit | undefined;
}

export function forwardedAudit(
  ctx: ProxyContext,
  conn: ConnInfo,
  target: HostPort,
  id: RequestIdentity,
  decision: 'inject' | 'forward',
  start: bigint,
): ForwardedAudit {
  const write = (outcome: ForwardOutcome) =>
    ctx.audit.write(forwardedRequestEvent(conn, target, id, decision, outcome, start));
  const barrier = ctx.auditBarrier;
  if (barrier === undefined) return { audit: write, early: undefined };
  let done = false;
  const audit = (outcome: ForwardOutcome) => {
    if (done) return;
    done = true;
    write(outcome);
  };
  return { audit, early: { report: audit, barrier } };
}
