/**
 * Run the real `clef-proxy` CLI as a child process for e2e tests (SPEC §1, §8).
 *
 * The CLI comes from the private build test/global-setup.ts makes once per run (laid out like the installed
 * package), never from the repository's `dist/`, which a rebuild may be rewriting at any moment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { inject } from 'vitest';
import type { AuditEvent } from '../../src/audit/events.js';
import { TEST_ALLOW_PRIVATE } from './upstream.js';

/** A private build of the CLI. */
export interface CliBuild {
  /** The `bin/clef-proxy` to spawn with `node`. */
  readonly bin: string;
  readonly root: string;
}

/** The CLI built once per run by test/global-setup.ts. */
export async function cliBuild(): Promise<CliBuild> {
  const root = inject('cliBuildRoot');
  return { bin: join(root, 'bin/clef-proxy'), root };
}

/** Kept for callers' afterAll hooks: the build belongs to the run and global-setup removes it. */
export async function removeCliBuild(): Promise<void> {}

/** The environment a child gets: nothing from the test's own (no proxies, tokens or XDG dirs leak in). */
function childEnv(home: string, env: Readonly<Record<string, string>>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: home, XDG_DATA_HOME: join(home, 'xdg'), ...env };
}

/** How a child ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A finished CLI run. */
export interface CliRun extends ExitStatus {
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `clef-proxy <args>` to completion. `home` is HOME for the child (default: a throwaway temp dir). */
export async function runCli(
  args: readonly string[],
  opts: { readonly env?: Readonly<Record<string, string>>; readonly home?: string } = {},
): Promise<CliRun> {
  const { bin } = await cliBuild();
  const home = opts.home ?? (await mkdtemp(join(tmpdir(), 'clef-proxy-e2e-home-')));
  try {
    return await new Promise<CliRun>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], {
        env: childEnv(home, opts.env ?? {}),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', reject);
      child.on('close', (code, signal) =>
        resolve({
          code,
          signal,
          stdout: Buffer.concat(out).toString(),
          stderr: Buffer.concat(err).toString(),
        }),
      );
    });
  } finally {
    if (opts.home === undefined) await rm(home, { recursive: true, force: true });
  }
}

/**
 * Every e2e upstream listens on loopback (often reached as `localhost`), which the destination guard refuses by
 * default: a config object that says nothing about `egress` allows loopback, as a real local setup must.
 */
function withLoopbackEgress(config: unknown): unknown {
  if (typeof config !== 'object' || config === null || Array.isArray(config) || 'egress' in config)
    return config;
  return { ...config, egress: { allow_private: [...TEST_ALLOW_PRIVATE] } };
}

/** Options for {@link spawnServe}. */
export interface SpawnServeOptions {
  /** The config: an object is written to a temp file; a string is a path used as is. */
  readonly config: unknown;
  readonly env?: Readonly<Record<string, string>>;
  /** Extra arguments after `serve --config <path>`. */
  readonly args?: readonly string[];
}

/** A running `clef-proxy serve`. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** From the `listening` line. */
  readonly port: number;
  /** The whole `listening` record (`admin_port`, …). */
  readonly listening: Readonly<Record<string, unknown>>;
  readonly address: string;
  /** Lines so far (they keep arriving until `exit` settles). */
  readonly stdoutLines: string[];
  readonly stderrLines: string[];
  readonly exit: Promise<ExitStatus>;
  kill(signal: NodeJS.Signals): void;
  /**
   * Resolve with the first stderr log record for which `match` holds, looking at lines from index `from` on
   * (default 0: lines already seen count too).
   */
  waitForLog(
    match: (rec: Record<string, unknown>) => boolean,
    timeoutMs?: number,
    from?: number,
  ): Promise<Record<string, unknown>>;
  /** Resolve with the first audit event on stdout (past or future) for which `match` holds. */
  waitForAudit(match: (ev: AuditEvent) => boolean, timeoutMs?: number): Promise<AuditEvent>;
}

const live = new Set<{ child: ChildProcess; exit: Promise<ExitStatus>; dir: string }>();

type Rec = Record<string, unknown>;

/** What a serve has said so far; `notify` runs on every new line and on exit. */
interface Output {
  readonly stdout: string[];
  readonly stderr: string[];
  readonly watchers: Set<() => void>;
  exited: boolean;
}

function parseJson(line: string): Rec | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null ? (v as Rec) : undefined;
  } catch {
    return undefined;
  }
}

/** Scan `lines` from index `from` (as JSON) until `match` holds; fails on timeout or once the process has exited. */
function waitIn(out: Output, lines: string[], match: (r: Rec) => boolean, timeoutMs: number, from = 0) {
  return new Promise<Rec>((resolve, reject) => {
    let seen = from;
    const fail = (why: string) => done(new Error(`${why}; serve stderr:\n${out.stderr.join('\n')}`));
    const check = () => {
      for (; seen < lines.length; seen++) {
        const rec = parseJson(lines[seen]!);
        if (rec && match(rec)) return done(undefined, rec);
      }
      if (out.exited) fail('serve exited before a matching line');
    };
    const timer = setTimeout(() => fail(`no matching line within ${timeoutMs} ms`), timeoutMs);
    function done(err?: Error, rec?: Rec) {
      clearTimeout(timer);
      out.watchers.delete(check);
      if (err) reject(err);
      else resolve(rec!);
    }
    out.watchers.add(check);
    check();
  });
}

/**
 * Spawn `clef-proxy serve` and resolve once it has logged `listening`; rejects (with its stderr) if it exits
 * first. The child's HOME and config live in a temp dir removed by {@link stopAllServes}.
 */
export async function spawnServe(opts: SpawnServeOptions): Promise<ServeProcess> {
  const { bin } = await cliBuild();
  const dir = await mkdtemp(join(tmpdir(), 'clef-proxy-e2e-serve-'));
  let configPath = opts.config as string;
  if (typeof opts.config !== 'string') {
    configPath = join(dir, 'config.json');
    await writeFile(configPath, JSON.stringify(withLoopbackEgress(opts.config)));
  }
  const child = spawn(process.execPath, [bin, 'serve', '--config', configPath, ...(opts.args ?? [])], {
    env: childEnv(dir, opts.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Output = { stdout: [], stderr: [], watchers: new Set(), exited: false };
  const notify = () => {
    for (const w of out.watchers) w();
  };
  for (const [stream, lines] of [
    [child.stdout, out.stdout],
    [child.stderr, out.stderr],
  ] as const) {
    createInterface({ input: stream }).on('line', (l) => {
      lines.push(l);
      notify();
    });
  }
  const exit = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => {
      out.exited = true;
      resolve({ code, signal });
      notify();
    });
  });
  live.add({ child, exit, dir });

  const listening = await waitIn(out, out.stderr, (r) => r.msg === 'listening', 20_000);
  return {
    child,
    port: listening.port as number,
    listening,
    address: listening.address as string,
    stdoutLines: out.stdout,
    stderrLines: out.stderr,
    exit,
    kill: (signal) => void child.kill(signal),
    waitForLog: (match, timeoutMs = 10_000, from = 0) => waitIn(out, out.stderr, match, timeoutMs, from),
    waitForAudit: (match, timeoutMs = 10_000) =>
      waitIn(
        out,
        out.stdout,
        (r) => match(r as unknown as AuditEvent),
        timeoutMs,
      ) as unknown as Promise<AuditEvent>,
  };
}

/** SIGKILL every serve still running and remove their temp dirs (afterEach/afterAll). */
export async function stopAllServes(): Promise<void> {
  const all = [...live];
  live.clear();
  for (const { child } of all)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(
    all.map(async ({ exit, dir }) => {
      await exit;
      await rm(dir, { recursive: true, force: true });
    }),
  );
}
