/**
 * The services refresh loop (SPEC §5): every `refreshMs` ask the agent with `If-None-Match`; a new valid document
 * replaces the set in force, anything else (network failure, error status, a malformed document) keeps the last
 * good set and is reported as a warning. Polls never overlap: the next one is scheduled only when one finishes.
 */
import type { AgentClient } from './client.js';
import { parseServicesDoc } from './services.js';
import type { ServiceIndex } from './source.js';

/** Options for {@link createServicesPoller}. */
export interface ServicesPollerOptions {
  /** Only `services()` is used. */
  readonly client: Pick<AgentClient, 'services'>;
  readonly refreshMs: number;
  /** The set fetched at startup, and its ETag. */
  readonly initial: ServiceIndex;
  readonly initialEtag: string | undefined;
  /** Called with each newly adopted set whose revision differs from the one in force. */
  readonly onUpdate: (index: ServiceIndex) => void;
  /** Called when a refresh fails or is rejected; the message holds no token or secret. */
  readonly onWarning: (message: string) => void;
}

/** A running refresh loop. */
export interface ServicesPoller {
  /** The last good set. */
  current(): ServiceIndex;
  /** Poll at once (SIGHUP). If a poll is running, one more runs after it, so a change just made is seen. */
  refreshNow(): Promise<void>;
  /** Stop the loop; a poll in flight finishes but changes nothing and warns nothing. */
  stop(): void;
}

/** Start polling; the first scheduled poll is `refreshMs` from now. */
export function createServicesPoller(options: ServicesPollerOptions): ServicesPoller {
  const { client, refreshMs, onUpdate, onWarning } = options;
  let current = options.initial;
  let etag = options.initialEtag;
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  let stopped = false;

  function warn(message: string): void {
    if (!stopped) onWarning(`${message}; keeping services revision ${current.revision}`);
  }

  async function pollOnce(): Promise<void> {
    let res: Awaited<ReturnType<typeof client.services>>;
    try {
      res = await client.services(etag);
    } catch (err) {
      warn(`services refresh failed: ${err instanceof Error ? err.message : 'unknown error'}`);
      return;
    }
    if (stopped || res.status === 'not_modified') return;
    const parsed = parseServicesDoc(res.doc);
    if (!parsed.ok) {
      // The old ETag is kept, so the agent sends the bad document again next time and the warning repeats
      // until someone fixes it, instead of being silenced by a 304.
      warn(`services document rejected (${parsed.issues.length} issue(s): ${parsed.issues.join('; ')})`);
      return;
    }
    etag = res.etag;
    const changed = parsed.index.revision !== current.revision;
    current = parsed.index;
    if (!changed) return;
    try {
      onUpdate(current);
    } catch {
      // A failing subscriber must not stall the loop or surface as an unhandled rejection from a timer.
      if (!stopped) onWarning(`a services listener failed on revision ${current.revision}`);
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => void poll(), refreshMs);
    // A refresh timer must never keep the process alive on its own (SPEC §8 drain exits on its own terms).
    timer.unref();
  }

  function poll(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (inflight) {
      queued ??= inflight.then(() => {
        queued = undefined;
        return poll();
      });
      return queued;
    }
    clearTimeout(timer);
    inflight = pollOnce().finally(() => {
      inflight = undefined;
      schedule();
    });
    return inflight;
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
