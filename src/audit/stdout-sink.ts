/**
 * Audit JSON lines on stdout (SPEC §10, `{"sink":"stdout"}`). Writes go through pino's asynchronous destination
 * (SonicBoom), so `write()` only appends to a buffer and never waits on a slow pipe. No pino logger sits in front:
 * the audit schema has no `level`/`time` fields, so the serialized line is handed to the destination as it is.
 */
import { pino } from 'pino';
import type { AuditSinkOptions, AuditSinkStats, CountingAuditSink } from './create-sink.js';
import type { AuditEvent } from './events.js';
import { serializeEvent } from './serialize.js';

/**
 * Bytes that may wait in memory for a stuck reader before events are dropped (and counted). A reader that stops
 * reading must not grow the proxy's heap without bound.
 */
const MAX_BUFFER_BYTES = 16 * 1024 * 1024;

type Destination = ReturnType<typeof pino.destination>;

/** The part of a destination the sink drives: SonicBoom for a fd, any Writable otherwise. */
interface LineWriter {
  write(line: string): void;
  /** Resolve once every line written so far has left the process's buffers (or could not). */
  flush(): Promise<void>;
  end(): Promise<void>;
}

function sonicWriter(dest: Destination, onDrop: () => void, failed: () => boolean): LineWriter {
  // SonicBoom calls this synchronously from write() when maxLength would be exceeded.
  dest.on('drop', onDrop);
  const settle = (resolve: () => void) => {
    const done = () => {
      dest.off('drain', done);
      dest.off('error', done);
      resolve();
    };
    dest.on('drain', done);
    dest.on('error', done);
    return done;
  };
  return {
    write: (line) => dest.write(line),
    flush: () =>
      new Promise<void>((resolve) => {
        // SonicBoom's own flush(cb) answers at once when minLength is 0, before the buffer is on the fd. An empty
        // write always ends in a 'drain' once everything queued before it is written, so wait for that instead.
        if (failed()) return resolve();
        const done = settle(resolve);
        try {
          dest.write('');
        } catch {
          done(); // destroyed under us: nothing more will ever drain
        }
      }),
    end: () =>
      new Promise<void>((resolve) => {
        if (failed()) return resolve();
        const done = () => {
          dest.off('close', done);
          dest.off('error', done);
          resolve();
        };
        dest.on('close', done);
        dest.on('error', done);
        dest.end();
      }),
  };
}

function streamWriter(stream: NodeJS.WritableStream, onDrop: () => void): LineWriter {
  const writable = stream as NodeJS.WritableStream & { writableLength?: number };
  return {
    write(line) {
      if ((writable.writableLength ?? 0) > MAX_BUFFER_BYTES) onDrop();
      else stream.write(line);
    },
    // A zero-length write's callback runs after every chunk queued before it (Node's Writable keeps order).
    flush: () => new Promise<void>((resolve) => stream.write('', () => resolve())),
    end: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  };
}

/**
 * Create a sink writing JSON lines to a file descriptor (default 1, stdout) or to a given stream (tests,
 * embedding). `flush()` resolves when every line written so far has been handed to the fd; `close()` flushes and
 * ends the destination (fd 1 and 2 themselves are never closed). I/O errors are reported through `onError` and
 * never thrown; after a broken pipe (EPIPE) nothing more can be delivered and later events count as dropped.
 */
export function createStdoutSink(
  dest: number | NodeJS.WritableStream = 1,
  opts: AuditSinkOptions = {},
): CountingAuditSink {
  let written = 0;
  let dropped = 0;
  let closed = false;
  let broken = false;
  let lastError: unknown;

  const report = (err: unknown) => {
    // pino's destination re-emits non-EPIPE errors once more after its own filter; report each error once.
    if (err === lastError) return;
    lastError = err;
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') broken = true;
    try {
      opts.onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // The callback is the embedder's; a throw there must not reach the hot path.
    }
  };
  const onDrop = () => {
    written--;
    dropped++;
  };

  let out: LineWriter;
  if (typeof dest === 'number') {
    const sonic = pino.destination({ fd: dest, sync: false, maxLength: MAX_BUFFER_BYTES });
    sonic.on('error', report);
    out = sonicWriter(sonic, onDrop, () => broken);
  } else {
    dest.on('error', report);
    out = streamWriter(dest, onDrop);
  }

  return {
    write(event: AuditEvent) {
      const line = closed || broken ? undefined : serializeEvent(event);
      if (line === undefined) {
        dropped++;
        return;
      }
      written++;
      try {
        out.write(line);
      } catch (err) {
        // A destroyed destination throws from write(); the event is lost, the request it audits is not.
        onDrop();
        report(err);
      }
    },
    flush: () => (closed ? Promise.resolve() : out.flush()),
    async close() {
      if (closed) return;
      await out.flush();
      closed = true;
      await out.end();
    },
    stats: (): AuditSinkStats => ({ written, dropped, queued: 0 }),
  };
}
