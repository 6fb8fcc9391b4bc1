/**
 * Hold the last writes of this turn of the event loop until the turn's audit events have been handed on (README
 * "Several cores"). A worker's IPC sink collects the events written in one turn and sends them as one message when
 * the barrier releases; the forwarders hold each response's writes of the turn and its end ({@link holdWrites})
 * until then. So every event is in the pipe to the primary before the bytes that complete its response leave, and
 * a turn's events cost one IPC write and one wake-up of the primary instead of one each.
 */
export interface TurnBarrier {
  /** Run `fn` when the barrier releases, after every `beforeRelease` function. */
  hold(fn: () => void): void;
  /** Make sure the barrier releases at the end of this turn (a sink with something to hand on calls it). */
  touch(): void;
  /** Register `fn` to run first at every release (a sink sending what it collected). */
  beforeRelease(fn: () => void): void;
}

/** A barrier that releases in `setImmediate`: after the poll phase, so every socket read in it is covered. */
export function createTurnBarrier(): TurnBarrier {
  const first: Array<() => void> = [];
  let held: Array<() => void> = [];
  let scheduled = false;
  const release = () => {
    scheduled = false;
    for (const fn of first) fn();
    const now = held;
    held = [];
    for (const fn of now) fn();
  };
  const touch = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(release);
  };
  return {
    hold(fn) {
      held.push(fn);
      touch();
    },
    touch,
    beforeRelease(fn) {
      first.push(fn);
    },
  };
}

/** What {@link holdWrites} needs of a response: a Writable, a ServerResponse or an HTTP/2 stream. */
export interface Corkable {
  cork(): void;
  uncork(): void;
  end(): unknown;
}

/** A response whose writes wait for a barrier: see {@link holdWrites}. */
export interface HeldWrites {
  /** Call before each write: the first of a turn corks the response until the barrier releases. */
  beforeWrite(): void;
  /** End the response when the barrier releases (after the corked writes go). */
  end(): void;
}

/** Hold `out`'s writes of each turn, and its end, until `barrier` releases. */
export function holdWrites(out: Corkable, barrier: TurnBarrier): HeldWrites {
  let corked = false;
  const uncork = () => {
    corked = false;
    out.uncork();
  };
  const end = () => {
    out.end();
  };
  return {
    beforeWrite() {
      if (corked) return;
      corked = true;
      out.cork();
      barrier.hold(uncork);
    },
    end() {
      barrier.hold(end);
    },
  };
}
