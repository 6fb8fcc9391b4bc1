/**
 * The engine behind the webhook and OTLP sinks (docs/audit.md): `write()` serializes the event (allow-listed
 * fields only, `serialize.ts`) into a bounded drop-oldest queue and returns — O(1), no I/O, never waits. One loop
 * sends batches of up to `batchMax` lines, one POST at a time so order is kept, when a batch is full, `flushMs`
 * after the first waiting event, or at once when someone flushes. A 5xx, 408, 429, network or TLS failure keeps
 * the batch and retries it with jittered exponential backoff (honouring `Retry-After`); any other status is a
 * permanent refusal and the batch is dropped and counted. Nothing here throws into the request being audited.
 */
import { randomBytes } from 'node:crypto';
import type { AuditBatching } from '../config/types.js';
import type { AuditSinkOptions, AuditSinkStats, CountingAuditSink } from './create-sink.js';
import type { AuditEvent } from './events.js';
import { createPoster, type Poster } from './http-post.js';
import { createRingQueue } from './ring-queue.js';
import { serializeEvent } from './serialize.js';

/** Options for {@link createBatchShipper}. */
export interface BatchShipperOptions extends AuditSinkOptions {
  /** `webhook` or `otlp`: names the sink in reported errors. */
  readonly label: string;
  readonly url: URL;
  /** Resolved headers (config headers plus the content type). Never logged. */
  readonly headers: Readonly<Record<string, string>>;
  readonly batching: AuditBatching;
  /** PEM roots added to the defaults (`upstream_ca_file`). */
  readonly extraCa?: readonly string[];
  /** Turn a batch of JSON lines (each ending in `\n`) into the request body. */
  readonly encode: (lines: readonly string[]) => Buffer;
  /** How many events of an accepted batch the receiver still rejected (OTLP partial success); default none. */
  readonly rejectedIn?: (body: string) => number;
  /** Statuses other than 2xx that are worth sending the same batch again. */
  readonly retryable: (status: number) => boolean;
  /** Per-POST deadline (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** Backoff ceiling of the first retry (default 500 ms), doubled per attempt up to `retryMaxMs` (default 30 s). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Test seam: the transport. */
  readonly poster?: Poster;
}

/** A shipping sink: a {@link CountingAuditSink} that can also be told to give up (`abort`). */
export interface ShippingAuditSink extends CountingAuditSink {
  abort(): void;
}

const noop = () => {};

/** Full-jitter-ish backoff: between half and all of `base·2^attempt`, capped (AWS "equal jitter"). */
function backoffMs(attempt: number, base: number, max: number, retryAfterMs: number | undefined): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  const delay = ceiling / 2 + Math.random() * (ceiling / 2);
  return Math.min(max, Math.max(delay, retryAfterMs ?? 0));
}

/** Create a shipping sink; see the module comment for its behaviour. */
export function createBatchShipper(opts: BatchShipperOptions): ShippingAuditSink {
  const { batchMax, flushMs, queueMax } = opts.batching;
  const queue = createRingQueue(queueMax);
  const poster = opts.poster ?? createPoster(opts.url, opts.extraCa ?? []);
  const origin = opts.url.origin; // never the path or query: either may carry a token
  const timeoutMs = opts.requestTimeoutMs ?? 10_000;
  const retryBase = opts.retryBaseMs ?? 500;
  const retryMax = opts.retryMaxMs ?? 30_000;
  const instance = randomBytes(6).toString('hex');

  let written = 0;
  let dropped = 0;
  let accepted = 0;
  let settled = 0;
  let batchSeq = 0;
  let inflight: string[] | undefined;
  let running: Promise<void> | undefined;
  let due = false;
  let closed = false;
  let aborted = false;
  let overflowReported = false;
  let timer: NodeJS.Timeout | undefined;
  let wake = noop;
  let waiters: Array<{ until: number; resolve: () => void }> = [];

  const report = (message: string) => {
    try {
      opts.onError?.(new Error(`audit ${opts.label} ${origin}: ${message}`));
    } catch {
      // the caller's logger must not reach the hot path
    }
  };
  const settle = (n: number, ok: boolean) => {
    settled += n;
    if (ok) written += n;
    else dropped += n;
    if (waiters.length === 0) return;
    for (const w of waiters) if (w.until <= settled) w.resolve();
    waiters = waiters.filter((w) => w.until > settled);
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = noop;
        resolve();
      }, ms);
      wake = () => {
        wake = noop;
        clearTimeout(t);
        resolve();
      };
    });

  /** Send the in-flight batch until it is delivered, refused, or the sink is aborted. */
  const deliver = async (batch: string[]) => {
    const headers = { ...opts.headers, 'idempotency-key': `${instance}-${++batchSeq}` };
    const body = opts.encode(batch);
    for (let attempt = 0; !aborted; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const res = await poster.post(body, headers, timeoutMs);
        if (res.status >= 200 && res.status < 300) {
          const rejected = Math.min(batch.length, opts.rejectedIn?.(res.body) ?? 0);
          if (rejected > 0) report(`receiver rejected ${rejected} of ${batch.length} events`);
          settle(rejected, false);
          return settle(batch.length - rejected, true);
        }
        if (!opts.retryable(res.status)) {
          report(`HTTP ${res.status}: receiver refused the batch; ${batch.length} events dropped`);
          return settle(batch.length, false);
        }
        retryAfterMs = res.retryAfterMs;
        report(`HTTP ${res.status}; retrying`);
      } catch (err) {
        if (aborted) return;
        const e = err as NodeJS.ErrnoException;
        report(`${e.code ?? e.message}; retrying`);
      }
      await sleep(backoffMs(attempt, retryBase, retryMax, retryAfterMs));
    }
  };

  const sendNow = () => queue.size >= batchMax || due || closed || waiters.length > 0;
  const pump = async () => {
    try {
      while (!aborted && queue.size > 0 && sendNow()) {
        inflight = queue.take(batchMax);
        if (queue.size === 0) due = false;
        await deliver(inflight);
        if (!aborted) inflight = undefined;
        overflowReported = false;
      }
    } finally {
      running = undefined;
      if (!aborted && queue.size > 0) arm();
    }
  };
  const kick = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    running ??= pump();
  };
  function arm() {
    timer ??= setTimeout(() => {
      timer = undefined;
      due = true;
      kick();
    }, flushMs);
    timer.unref?.();
  }

  const flush = (): Promise<void> => {
    if (settled >= accepted || aborted) return Promise.resolve();
    const until = accepted;
    const p = new Promise<void>((resolve) => waiters.push({ until, resolve }));
    kick();
    return p;
  };

  return {
    write(event: AuditEvent) {
      const line = closed ? undefined : serializeEvent(event);
      if (line === undefined) {
        dropped++;
        return;
      }
      accepted++;
      if (queue.push(line)) {
        settle(1, false);
        if (!overflowReported) {
          overflowReported = true;
          report(`queue full (${queueMax} events): the oldest events are being dropped`);
        }
      }
      if (running) return;
      if (queue.size >= batchMax) kick();
      else arm();
    },
    flush,
    async close() {
      if (closed) return flush();
      closed = true;
      await flush();
      if (timer) clearTimeout(timer);
      poster.destroy();
    },
    abort() {
      if (aborted) return;
      aborted = true;
      closed = true;
      if (timer) clearTimeout(timer);
      wake();
      poster.destroy();
      for (const w of waiters) w.resolve();
      waiters = [];
    },
    stats: (): AuditSinkStats => ({ written, dropped, queued: accepted - settled }),
  };
}
