/**
 * Audit JSON lines to a file (SPEC §3 `{"sink":"file"}`, §10): mode 0600, appended, rotated at `maxBytes` to
 * `path.1` … `path.<maxFiles>`. `write()` only serializes and queues; one writer loop drains the queue, so events
 * that arrive during a rotation wait in memory and none is lost. An I/O failure never throws and never stops the
 * proxy: the events it cost are counted as dropped, reported through `onError`, and the next write tries again
 * (docs/audit.md).
 */
import { type FileHandle, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { AuditSinkOptions, AuditSinkStats, CountingAuditSink } from './create-sink.js';
import type { AuditEvent } from './events.js';
import { serializeEvent } from './serialize.js';

/** Options for {@link createFileSink}. */
export interface FileSinkOptions extends AuditSinkOptions {
  readonly path: string;
  /** Rotate before a line would take the file past this size. A single longer line still goes to a fresh file. */
  readonly maxBytes: number;
  /** Rotated files kept (`path.1` newest … `path.<maxFiles>` oldest); 0 keeps none. */
  readonly maxFiles: number;
  /** Characters that may wait in memory before new events are dropped (a stuck disk must not exhaust the heap). */
  readonly maxBufferChars?: number;
}

type Report = (err: unknown) => void;
const DEFAULT_MAX_BUFFER_CHARS = 64 * 1024 * 1024;
/** Upper bound on one write(2): a large backlog goes out in pieces instead of one giant Buffer. */
const MAX_CHUNK_BYTES = 1024 * 1024;
/** How long the writer gathers events before writing them (a drain or flush does not wait for it). */
const BATCH_MS = 5;
const noop = () => {};
const ROTATED_SUFFIX = /^[1-9][0-9]*$/;
const isErrno = (err: unknown, code: string) => (err as NodeJS.ErrnoException | null)?.code === code;

interface LogFile {
  readonly handle: FileHandle;
  readonly dev: number;
  readonly ino: number;
  size: number;
}

async function openLogFile(path: string, report: Report): Promise<LogFile> {
  const handle = await open(path, 'a', 0o600);
  try {
    const st = await handle.stat();
    // open() leaves an existing file's mode alone; SPEC §10 wants 0600 whatever was there before. A failed chmod
    // is reported, and the events are still written: losing the audit trail would be the worse outcome.
    if (process.platform !== 'win32' && (st.mode & 0o777) !== 0o600) await handle.chmod(0o600).catch(report);
    return { handle, dev: st.dev, ino: st.ino, size: st.size };
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
}

/** True when `path` still names the open file: a removed or replaced file is re-opened, not written into the void. */
async function isCurrent(file: LogFile, path: string): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && st.ino === file.ino && st.dev === file.dev;
}

async function append(file: LogFile, text: string): Promise<void> {
  const buf = Buffer.from(text);
  let off = 0;
  try {
    while (off < buf.length) {
      const { bytesWritten } = await file.handle.write(buf, off, buf.length - off);
      if (bytesWritten <= 0) throw new Error('audit file: short write');
      off += bytesWritten;
    }
  } catch (err) {
    // Cut a half-written batch off (ENOSPC mid-write): readers must only ever see whole lines.
    if (off > 0) await file.handle.truncate(file.size).catch(() => {});
    throw err;
  }
  file.size += buf.length;
}

async function closeFile(file: LogFile, report: Report, sync = false): Promise<void> {
  if (sync) await file.handle.datasync().catch(report);
  await file.handle.close().catch(report);
}

/** Highest `path.N` present (N ≤ maxFiles); files numbered past `maxFiles` are the oldest and are removed. */
async function scanRotated(path: string, maxFiles: number): Promise<number> {
  const base = `${basename(path)}.`;
  let highest = 0;
  for (const name of await readdir(dirname(path))) {
    const suffix = name.startsWith(base) ? name.slice(base.length) : '';
    if (!ROTATED_SUFFIX.test(suffix)) continue;
    const n = Number(suffix);
    if (n > maxFiles) await rm(join(dirname(path), name), { force: true });
    else highest = Math.max(highest, n);
  }
  return highest;
}

/** path.(k) → path.(k+1) down to path → path.1; renaming onto path.<maxFiles> drops the oldest. */
async function shiftFiles(path: string, maxFiles: number, present: number): Promise<void> {
  // A file someone else removed is simply absent from the chain.
  const move = (from: string, to: string) =>
    rename(from, to).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
  if (maxFiles === 0) return void (await rm(path, { force: true }));
  for (let k = Math.min(present, maxFiles - 1); k >= 1; k--) await move(`${path}.${k}`, `${path}.${k + 1}`);
  await move(path, `${path}.1`);
}

/** Create the rotating file sink. It opens the file at once, so a bad path is reported before the first event. */
export function createFileSink(options: FileSinkOptions): CountingAuditSink {
  const { path, maxBytes, maxFiles, onError } = options;
  const maxBufferChars = options.maxBufferChars ?? DEFAULT_MAX_BUFFER_CHARS;
  let queue: string[] = [];
  let queuedChars = 0; // characters queued or being written, for the memory cap
  let accepted = 0; // lines that entered the queue
  let settled = 0; // of those, written or dropped
  let written = 0;
  let dropped = 0;
  let closed = false;
  let overflowReported = false;
  let file: LogFile | undefined;
  let rotated: number | undefined; // rotated files present, learned by one readdir at the first rotation
  let running: Promise<void> | undefined;
  let waiters: Array<{ until: number; resolve: () => void }> = [];
  let kick: () => void = noop; // ends the batching wait of the pump, when one is waiting

  const report: Report = (err) => {
    try {
      onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // The callback belongs to the embedder; a throw there must not escape into the writer loop.
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
  const ensureOpen = async (): Promise<LogFile | undefined> => {
    if (file && (await isCurrent(file, path))) return file;
    if (file) await closeFile(file, report);
    file = await openLogFile(path, report).catch((err) => void report(err));
    return file;
  };
  const rotate = async (current: LogFile): Promise<boolean> => {
    file = undefined;
    await closeFile(current, report);
    try {
      rotated ??= await scanRotated(path, maxFiles);
      await shiftFiles(path, maxFiles, rotated);
      rotated = Math.min(rotated + 1, maxFiles);
      return true;
    } catch (err) {
      report(err);
      return false;
    }
  };

  /** Write `lines` in order, rotating at `maxBytes`. On an I/O failure the rest of `lines` is dropped. */
  const drain = async (lines: readonly string[]) => {
    let i = 0;
    let skipRotation = false;
    while (i < lines.length) {
      const f = await ensureOpen();
      if (!f) return settle(lines.length - i, false);
      let bytes = Buffer.byteLength(lines[i]!);
      if (f.size > 0 && f.size + bytes > maxBytes && !skipRotation) {
        // After a failed rotation the file grows past maxBytes for one batch rather than losing events.
        skipRotation = !(await rotate(f));
        continue;
      }
      skipRotation = false;
      let end = i + 1;
      for (; end < lines.length; end++) {
        const next = Buffer.byteLength(lines[end]!);
        if (f.size + bytes + next > maxBytes || bytes + next > MAX_CHUNK_BYTES) break;
        bytes += next;
      }
      try {
        await append(f, lines.slice(i, end).join(''));
        settle(end - i, true);
        i = end;
      } catch (err) {
        report(err);
        file = undefined;
        await closeFile(f, report);
        return settle(lines.length - i, false);
      }
    }
  };
  // Gather for a few milliseconds before each batch, so the events of many requests go out with one stat and one
  // write: at one batch per request those two thread-pool round trips cost ~50 µs of CPU each
  // (docs/performance.md). Nobody waiting in flush() or close() waits for the timer: they cut it short.
  const gather = (ms: number): Promise<void> | undefined => {
    if (waiters.length > 0 || closed) return undefined;
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => kick(), ms);
      kick = () => {
        kick = noop;
        clearTimeout(t);
        resolve();
      };
    });
  };
  const pump = async (openFirst: boolean) => {
    try {
      await gather(openFirst ? 0 : BATCH_MS);
      if (openFirst) await ensureOpen();
      while (queue.length > 0) {
        const lines = queue;
        const chars = queuedChars; // still held in memory until drained, so still counted against the cap
        queue = [];
        await drain(lines);
        queuedChars -= chars;
        overflowReported = false;
        if (queue.length > 0) await gather(BATCH_MS);
      }
    } finally {
      running = undefined; // synchronous with the last queue check: no write() can slip between them
    }
  };

  /** Resolves once every line accepted so far is written or counted dropped. */
  const flush = (): Promise<void> => {
    if (settled >= accepted) return Promise.resolve();
    kick();
    const until = accepted;
    return new Promise<void>((resolve) => waiters.push({ until, resolve }));
  };

  // Open now: a bad path or an unfixable mode is reported at startup, not with the first event.
  running = pump(true);

  return {
    write(event: AuditEvent) {
      const line = closed ? undefined : serializeEvent(event);
      if (line === undefined || queuedChars + line.length > maxBufferChars) {
        dropped++;
        if (line !== undefined && !overflowReported) {
          overflowReported = true;
          report(new Error('audit buffer full: the audit file cannot keep up, events are being dropped'));
        }
        return;
      }
      queue.push(line);
      queuedChars += line.length;
      accepted++;
      running ??= pump(false);
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      await flush();
      await running;
      if (file) await closeFile(file, report, true);
      file = undefined;
    },
    stats: (): AuditSinkStats => ({ written, dropped, queued: accepted - settled }),
  };
}
