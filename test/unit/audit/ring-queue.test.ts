import { describe, expect, it } from 'vitest';
import { createRingQueue } from '../../../src/audit/ring-queue.js';

describe('ring queue (drop oldest)', () => {
  it('keeps the newest `capacity` lines in order across wrap-arounds', () => {
    const q = createRingQueue(3);
    const dropped = ['a', 'b', 'c', 'd', 'e'].map((l) => q.push(l));
    expect(dropped).toEqual([false, false, false, true, true]);
    expect(q.take(2)).toEqual(['c', 'd']);
    q.push('f');
    q.push('g');
    expect(q.push('h')).toBe(true);
    expect(q.size).toBe(3);
    expect(q.take(10)).toEqual(['f', 'g', 'h']);
    expect(q.take(1)).toEqual([]);
  });

  it('clear() reports how many lines it discarded', () => {
    const q = createRingQueue(4);
    q.push('a');
    q.push('b');
    expect(q.clear()).toBe(2);
    expect(q.size).toBe(0);
    q.push('c');
    expect(q.take(4)).toEqual(['c']);
  });
});
