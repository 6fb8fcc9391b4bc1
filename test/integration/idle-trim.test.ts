/**
 * `trimWhenIdle` (docs/performance.md, "Round 2, change 3"): after work, the first quiet check runs the collections
 * and logs it at debug level, once per quiet spell; a proxy that has served nothing is never trimmed.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import { closeKept, startBearerService } from './intercept/intercept-helpers.js';

afterEach(closeKept);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('trimWhenIdle', () => {
  it('collects once after each quiet spell that follows work, never on a proxy that served nothing', async () => {
    const lines: { msg: string; ms?: number }[] = [];
    const logger = createLogger(
      'debug',
      new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l));
          done();
        },
      }),
    );
    const majors: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const d = (e as unknown as { detail: { kind: number; flags: number } }).detail;
        if (
          d.kind === constants.NODE_PERFORMANCE_GC_MAJOR &&
          d.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED
        )
          majors.push(e.startTime);
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    try {
      const {
        target,
        px,
        ca,
        up: upstream,
      } = await startBearerService('trim-secret', undefined, {
        logger,
        trimWhenIdle: { quietMs: 100 },
      });
      const trims = () => lines.filter((l) => l.msg === 'quiet spell: memory trimmed');
      const waitTrims = async (n: number) => {
        for (let i = 0; i < 200 && trims().length < n; i++) await sleep(25);
        return trims();
      };

      await sleep(400);
      expect(trims()).toHaveLength(0);
      expect(majors).toHaveLength(0);

      const res = await httpsRequestThrough(px.port, target, { path: '/one' }, { ca });
      expect(res.status).toBe(200);
      expect(upstream.received[0]?.headers.authorization).toBe('Bearer trim-secret');
      expect(await waitTrims(1)).toHaveLength(1);
      expect(typeof trims()[0]?.ms).toBe('number');
      await sleep(400);
      expect(trims()).toHaveLength(1);
      expect(majors.length).toBeGreaterThanOrEqual(2);

      const again = await httpsRequestThrough(px.port, target, { path: '/two' }, { ca });
      expect(again.status).toBe(200);
      expect(await waitTrims(2)).toHaveLength(2);
      // The secret is nowhere in what the trim logged.
      expect(JSON.stringify(lines)).not.toContain('trim-secret');
    } finally {
      obs.disconnect();
    }
  });

  it('refuses a quiet interval setInterval cannot honour, before anything listens', async () => {
    for (const quietMs of [0, -5, 1.5, Number.NaN, 2 ** 31]) {
      await expect(
        startBearerService('trim-secret', undefined, { trimWhenIdle: { quietMs } }),
      ).rejects.toThrow(/^trimWhenIdle\.quietMs must be a whole number of ms from 1 to 2147483647/);
    }
  });
});
