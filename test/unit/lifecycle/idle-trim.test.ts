/**
 * The idle trim: two full collections, one quiet check apart, once per quiet spell, never while work keeps starting, and V8's `gc` never
 * left visible to other contexts.
 */
import { spawnSync } from 'node:child_process';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { collectGarbage, startIdleTrim } from '../../../src/lifecycle/idle-trim.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('startIdleTrim', () => {
  it('trims once after a quiet check that follows activity, and again only after new activity', () => {
    vi.useFakeTimers();
    let activity = 0;
    const collect = vi.fn();
    const trims: number[] = [];
    const trim = startIdleTrim({
      activity: () => activity,
      quietMs: 1000,
      collect,
      onTrim: ({ ms }) => trims.push(ms),
    });

    // Nothing has happened yet: a fresh proxy is not trimmed.
    vi.advanceTimersByTime(3000);
    expect(collect).not.toHaveBeenCalled();

    // Work keeps starting: every check sees a new count, so no trim.
    for (let i = 0; i < 5; i++) {
      activity += 3;
      vi.advanceTimersByTime(1000);
    }
    expect(collect).not.toHaveBeenCalled();

    /** One more check; then `collect` has run `calls` times and `trims` trims are complete. */
    const check = (calls: number, done: number) => {
      vi.advanceTimersByTime(1000);
      expect(collect).toHaveBeenCalledTimes(calls);
      expect(trims).toHaveLength(done);
    };

    // The first check without new work collects once; the next quiet one collects again and completes the trim.
    check(1, 0);
    check(2, 1);
    for (let i = 0; i < 5; i++) check(2, 1);

    // A single request later re-arms it.
    activity++;
    check(2, 1);
    check(3, 1);

    // Work between the two collections starts the spell over: the trim completes only after two quiet checks.
    activity++;
    check(3, 1);
    check(4, 1);
    check(5, 2);

    trim.stop();
    activity++;
    vi.advanceTimersByTime(5000);
    expect(collect).toHaveBeenCalledTimes(5);
  });

  it('does not keep the process alive', () => {
    // A process whose only timer is the trimmer's exits at once (the built module, as the daemon loads it).
    const mod = new URL('../../../dist/lifecycle/idle-trim.js', import.meta.url).href;
    const run = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(mod)}); m.startIdleTrim({ activity: () => 0, quietMs: 50 });`,
      ],
      { timeout: 10_000, encoding: 'utf8' },
    );
    expect(run.stderr).toBe('');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
  });
});

describe('collectGarbage', () => {
  it('runs a forced major collection and leaves no gc global behind', async () => {
    const gcGlobalBefore = typeof (globalThis as { gc?: unknown }).gc;
    const kinds: { kind: number; flags: number }[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        kinds.push((e as unknown as { detail: { kind: number; flags: number } }).detail);
    });
    obs.observe({ entryTypes: ['gc'] });
    try {
      collectGarbage();
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      obs.disconnect();
    }
    const forcedMajor = kinds.filter(
      (k) =>
        k.kind === constants.NODE_PERFORMANCE_GC_MAJOR &&
        (k.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0,
    );
    expect(forcedMajor.length).toBeGreaterThanOrEqual(1);
    // The flag was only set while one context took its gc: new contexts and this one look as before.
    expect(runInNewContext('typeof gc')).toBe('undefined');
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe(gcGlobalBefore);
  });
});
