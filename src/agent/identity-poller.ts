/**
 * The identities refresh loop (issue 12), run beside the services poller and with its rules: every `refreshMs` ask
 * `/v1/identities` with `If-None-Match`; a new valid document replaces the table in force; a failure, an error
 * status or a document that fails validation keeps the last good table and warns. Polls never overlap.
 *
 * Support is decided by the agent's answer: 404 means "no identities" (an agent that predates them). While no
 * table was ever adopted, a 404 is quiet and the shared `CLEF_PROXY_TOKEN` stays in force; a table adopted later
 * switches to per-identity tokens. Once a table is in force, a 404 is a failure like any other and the table is
 * kept: falling back to the shared token would let every holder of it in under any name (fail closed).
 */
import type { IdentitiesResponse } from './client.js';
import { type IdentityTable, parseIdentitiesDoc } from './identities.js';

/** Options for {@link createIdentityPoller}. */
export interface IdentityPollerOptions {
  readonly fetch: (etag: string | undefined) => Promise<IdentitiesResponse>;
  readonly refreshMs: number;
  /** The table fetched at startup (undefined: the agent answered 404), and its ETag. */
  readonly initial: IdentityTable | undefined;
  readonly initialEtag: string | undefined;
  /** Called with each newly adopted table. */
  readonly onUpdate: (table: IdentityTable) => void;
  /** Called when a refresh fails or is rejected; the message holds no token or digest. */
  readonly onWarning: (message: string) => void;
}

/** A running identities refresh loop. */
export interface IdentityPoller {
  /** The last good table, or undefined while the agent serves none. */
  current(): IdentityTable | undefined;
  /** Poll at once (SIGHUP); a call during a poll waits for it and polls again. */
  refreshNow(): Promise<void>;
  stop(): void;
}

/** Start polling; the first scheduled poll is `refreshMs` from now. */
export function createIdentityPoller(options: IdentityPollerOptions): IdentityPoller {
  const { refreshMs, onUpdate, onWarning } = options;
  let current = options.initial;
  let etag = options.initialEtag;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;

  function warn(message: string): void {
    if (stopped) return;
    const kept = current === undefined ? 'no identities in force' : 'keeping the current identities';
    onWarning(`${message}; ${kept}`);
  }

  async function pollOnce(): Promise<void> {
    let res: IdentitiesResponse;
    try {
      res = await options.fetch(etag);
    } catch (err) {
      warn(`identities refresh failed: ${err instanceof Error ? err.message : 'unknown error'}`);
      return;
    }
    if (stopped || res.status === 'not_modified') return;
    if (res.status === 'unsupported') {
      if (current !== undefined) warn('identities refresh failed: /v1/identities: agent answered 404');
      return;
    }
    const parsed = parseIdentitiesDoc(res.doc);
    if (!parsed.ok) {
      // The old ETag is kept, so the bad document comes again and the warning repeats until it is fixed.
      warn(`identities document rejected (${parsed.issues.length} issue(s): ${parsed.issues.join('; ')})`);
      return;
    }
    etag = res.etag;
    current = parsed.table;
    try {
      onUpdate(current);
    } catch {
      if (!stopped) onWarning('an identities listener failed');
    }
  }

  function schedule(): void {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void poll(), refreshMs);
    timer.unref();
  }

  function poll(): Promise<void> {
    if (stopped) return Promise.resolve();
    chain = chain.then(pollOnce).finally(schedule);
    return chain;
  }

  schedule();
  return {
    current: () => current,
    refreshNow: poll,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
