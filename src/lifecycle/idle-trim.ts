/**
 * Give memory back once the proxy goes quiet.
 *
 * Under sustained load V8 grows its young generation to the semi-space maximum (about 30 MiB resident) and leaves
 * old-generation garbage for a later collection. A proxy that then goes idle allocates nothing, so no collection
 * ever runs again and it keeps its peak heap for as long as it stays idle (docs/performance.md, "Round 2, change 3").
 *
 * The trimmer checks once per `quietMs`. The first check that sees no new work since the one before, after some
 * work, runs a full collection, which frees the garbage. If the next check is quiet too, a second one runs. V8
 * shrinks the young generation only when its allocation rate over the last 5 s is low; the rate it measures at the
 * first collection still counts the allocations made just before the load stopped, so the first collection alone
 * does not always shrink it. The second collection comes a whole quiet `quietMs` (more than those 5 s) later, so it
 * does, and V8 returns the pages to the OS. Each collection takes 10–40 ms. With the default 6 s, a trim ends 12–18 s
 * after the last connection or request, once per quiet spell, and never while work keeps starting.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface IdleTrimOptions {
  /** A count that grows with every piece of work started (connections accepted, requests, tunnels). */
  readonly activity: () => number;
  /** How often to check (default {@link DEFAULT_QUIET_MS}). */
  readonly quietMs?: number;
  /** One collection (default {@link collectGarbage}); a trim runs it twice, one quiet check apart. */
  readonly collect?: () => void;
  /** Called when a trim is complete, with the time both collections took. */
  readonly onTrim?: (info: { readonly ms: number }) => void;
}

export interface IdleTrim {
  stop(): void;
}

/** More than the 5 s over which V8 measures the allocation rate that decides whether the young generation shrinks. */
export const DEFAULT_QUIET_MS = 6_000;

export function startIdleTrim(options: IdleTrimOptions): IdleTrim {
  const collect = options.collect ?? collectGarbage;
  let seen = options.activity();
  // 'clean': nothing to give back (a fresh proxy, or trimmed since the last work); 'dirty': work ran since;
  // 'half': the first collection ran and the proxy has stayed quiet since.
  let state: 'clean' | 'dirty' | 'half' = 'clean';
  let firstMs = 0;
  const timer = setInterval(() => {
    const now = options.activity();
    if (now !== seen) {
      seen = now;
      state = 'dirty';
      return;
    }
    if (state === 'clean') return;
    const started = performance.now();
    collect();
    const ms = performance.now() - started;
    if (state === 'dirty') {
      state = 'half';
      firstMs = ms;
      return;
    }
    state = 'clean';
    options.onTrim?.({ ms: firstMs + ms });
  }, options.quietMs ?? DEFAULT_QUIET_MS);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
  };
}

let gc: (() => void) | undefined;

/**
 * One full garbage collection. V8's `gc` function is only given to contexts created while `--expose-gc` is set, so
 * the flag is set for as long as it takes to create one context and take its `gc`, then unset again: no other
 * context, the proxy's own included, ever sees a `gc` global.
 */
export function collectGarbage(): void {
  if (gc === undefined) {
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === 'function') {
      gc = exposed as () => void;
    } else {
      setFlagsFromString('--expose-gc');
      try {
        const fn: unknown = runInNewContext('gc');
        gc = typeof fn === 'function' ? (fn as () => void) : () => {};
      } catch {
        // A runtime that ignores the flag: trimming becomes a no-op, never a crash.
        gc = () => {};
      } finally {
        setFlagsFromString('--no-expose-gc');
      }
    }
  }
  gc();
}
