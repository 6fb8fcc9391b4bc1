/**
 * The turn barrier (audit/turn-barrier.ts): held functions run once per release, in order, after every
 * `beforeRelease` function; a release happens at the end of the turn in which something was held or touched.
 */
import { describe, expect, it } from 'vitest';
import { createTurnBarrier, holdWrites } from '../../../src/audit/turn-barrier.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('turn barrier', () => {
  it('runs beforeRelease first, then the held functions in order, once each', async () => {
    const b = createTurnBarrier();
    const seen: string[] = [];
    b.beforeRelease(() => seen.push('sink'));
    b.hold(() => seen.push('a'));
    b.hold(() => seen.push('b'));
    expect(seen).toEqual([]); // nothing runs in the turn that held
    await turn();
    expect(seen).toEqual(['sink', 'a', 'b']);
    await turn();
    expect(seen).toEqual(['sink', 'a', 'b']); // nothing held, no release
  });

  it('touch alone releases the sink; a function held during a release waits for the next one', async () => {
    const b = createTurnBarrier();
    const seen: string[] = [];
    b.beforeRelease(() => seen.push('sink'));
    b.touch();
    b.touch();
    await turn();
    expect(seen).toEqual(['sink']);
    b.hold(() => {
      seen.push('first');
      b.hold(() => seen.push('second'));
    });
    await turn();
    expect(seen).toEqual(['sink', 'sink', 'first']);
    await turn();
    expect(seen).toEqual(['sink', 'sink', 'first', 'sink', 'second']);
  });

  it('holdWrites corks once per turn, uncorks after the sink, and ends after the uncork', async () => {
    const b = createTurnBarrier();
    const seen: string[] = [];
    b.beforeRelease(() => seen.push('sink'));
    const held = holdWrites(
      { cork: () => seen.push('cork'), uncork: () => seen.push('uncork'), end: () => seen.push('end') },
      b,
    );
    held.beforeWrite();
    held.beforeWrite();
    held.end();
    expect(seen).toEqual(['cork']);
    await turn();
    expect(seen).toEqual(['cork', 'sink', 'uncork', 'end']);
    held.beforeWrite(); // a new turn corks again
    await turn();
    expect(seen).toEqual(['cork', 'sink', 'uncork', 'end', 'cork', 'sink', 'uncork']);
  });
});
