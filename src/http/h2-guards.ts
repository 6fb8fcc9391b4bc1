/**
 * Per-session counters for the HTTP/2 abuse patterns node:http2 does not bound by itself, or bounds only loosely
 * (docs/hardening.md): a stream whose header block never completes (slowloris inside h2), streams opened and reset
 * at a high rate (CVE-2023-44487, "rapid reset"), and floods of PING or SETTINGS frames each of which obliges an
 * acknowledgement.
 */
import type { ServerHttp2Session } from 'node:http2';

/** Counts events in fixed one-second windows; `hit()` is true once `limit` is exceeded within one window. */
export class RateWindow {
  readonly #limit: number;
  #start = 0;
  #count = 0;
  constructor(limit: number) {
    this.#limit = limit;
  }
  hit(now = Date.now()): boolean {
    if (now - this.#start >= 1000) {
      this.#start = now;
      this.#count = 0;
    }
    return ++this.#count > this.#limit;
  }
}

/**
 * Client resets per second a session may cause before it is closed with GOAWAY ENHANCE_YOUR_CALM. Well above what
 * a client cancelling its own calls does, far below the thousands per second of the rapid-reset attack.
 */
export const RESETS_PER_SECOND = 100;
/** PING plus SETTINGS frames per second a session may send before it is closed. */
export const CONTROL_FRAMES_PER_SECOND = 100;

/**
 * Watch for a header block that was started but never finished: node:http2 emits a stream only once its headers are
 * complete, but nghttp2 records the id of the last stream whose HEADERS it began (`state.lastProcStreamID`). A
 * started id that stays ahead of every stream seen for `timeoutMs` is a stalled head. Polled, like
 * head-watch.ts, so the hot path pays nothing; the session is closed between `timeoutMs` and `timeoutMs + step`.
 */
export function watchH2Heads(
  session: ServerHttp2Session,
  timeoutMs: number,
  onTimeout: () => void,
): { seen(id: number): void; stop(): void } {
  const step = Math.max(25, Math.floor(timeoutMs / 4));
  let seenMax = 0;
  let pendingSince: number | undefined;
  const check = () => {
    if (session.destroyed) return;
    const started = session.state.lastProcStreamID ?? 0;
    const now = Date.now();
    if (started <= seenMax) pendingSince = undefined;
    else if (pendingSince === undefined) pendingSince = now;
    else if (now - pendingSince >= timeoutMs) return onTimeout();
    timer.refresh();
  };
  const timer = setTimeout(check, step);
  timer.unref();
  return {
    seen(id) {
      if (id > seenMax) seenMax = id;
    },
    stop: () => clearTimeout(timer),
  };
}
