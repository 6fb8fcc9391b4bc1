/**
 * A bounded FIFO of serialized audit lines that drops its OLDEST entry when full (docs/audit.md): when a receiver
 * is down for long, the newest events are the ones an operator most needs once it is back. `push` and `shift`
 * are O(1) on a fixed array, so the request that writes an event never pays for the backlog.
 */
export interface RingQueue {
  readonly size: number;
  /** Append `line`; returns true when the oldest line had to be dropped to make room. */
  push(line: string): boolean;
  /** Remove and return up to `max` of the oldest lines, in order. */
  take(max: number): string[];
  /** Remove everything; returns how many lines were discarded. */
  clear(): number;
}

/** Create a queue holding at most `capacity` lines (≥ 1). */
export function createRingQueue(capacity: number): RingQueue {
  const slots: Array<string | undefined> = new Array(capacity);
  let head = 0; // index of the oldest line
  let size = 0;
  return {
    get size() {
      return size;
    },
    push(line) {
      const full = size === capacity;
      slots[(head + size) % capacity] = line;
      if (full) head = (head + 1) % capacity;
      else size++;
      return full;
    },
    take(max) {
      const n = Math.min(max, size);
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        out[i] = slots[head]!;
        slots[head] = undefined; // let the string go
        head = (head + 1) % capacity;
      }
      size -= n;
      return out;
    },
    clear() {
      const n = size;
      slots.fill(undefined);
      head = 0;
      size = 0;
      return n;
    },
  };
}
