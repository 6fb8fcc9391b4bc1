/**
 * The `serve` primary with `workers` > 1 (issue 14, README "Several cores"). `serve` has already run the startup
 * checks (config 2 → tokens 4 → CA 5 → agent 3); this forks the workers, hands each the CA over IPC, owns the one
 * set of audit sinks (workers forward events, `ipc-audit-sink.ts`), logs the single `listening` line once the
 * first worker is bound (with port 0 node:cluster gives every worker the primary's one socket, so its port is the
 * port), restarts dead workers with backoff, and coordinates the drain on SIGTERM/SIGINT (SPEC §8). With `admin`
 * it binds the admin listener for the group before forking (`primary-admin.ts`).
 */
import cluster, { type Worker } from 'node:cluster';
import type { AdminServer } from '../admin/server.js';
import type { SwappableSink } from '../audit/swappable-sink.js';
import type { ListenAddress } from '../config/types.js';
import { ExitCode, type ExitCodeValue, StartupError } from '../exit-codes.js';
import { closeAuditBy, LOCAL_GRACE_MS } from '../lifecycle/close-audit.js';
import { startIdleTrim } from '../lifecycle/idle-trim.js';
import { onSignals } from '../lifecycle/signals.js';
import type { Logger } from '../log/logger.js';
import { observingSink } from '../metrics/observe-sink.js';
import { createTally } from '../metrics/tally.js';
import type { CaMaterial } from '../tls/ca-validate.js';
import { receiveAuditEvents } from './ipc-audit-sink.js';
import { type ClusterMessage, isClusterMessage } from './messages.js';
import { createStatsCollector } from './stats.js';

/** Restart backoff: 100 ms doubling to 5 s; a worker that lived 30 s resets it. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5_000;
const BACKOFF_RESET_AFTER_MS = 30_000;

/** What the primary needs from `serve`. */
export interface PrimaryOptions {
  readonly workers: number;
  readonly listen: ListenAddress;
  /** The admin listener's address (config `admin.listen`); none when absent. */
  readonly admin?: ListenAddress;
  readonly ca: CaMaterial;
  readonly audit: SwappableSink;
  readonly auditName: string;
  readonly drainTimeoutMs: number;
  readonly logger: Logger;
  /** SIGHUP: re-read the config (primary's sinks and log level) and load the CA again; resolves with the CA. */
  readonly reload: () => Promise<CaMaterial>;
  readonly unguard: () => void;
}

/**
 * Run the workers until a signal drains them. Rejects with a StartupError (exit 6) when they or the admin listener
 * cannot bind.
 */
export async function runPrimary(o: PrimaryOptions): Promise<ExitCodeValue> {
  const { logger } = o;
  // `reloads`: SIGHUPs seen when the worker was forked (or last told); a worker still starting cannot take a
  // reload message yet, so it gets one once it reports listening if a SIGHUP came since.
  const live = new Map<number, { worker: Worker; bound: boolean; reloads: number }>();
  let reloads = 0;
  let ca = o.ca;
  let boundPort: number | undefined;
  let bound = 0;
  let announced = false;
  let stopping = false;
  let delay = BACKOFF_FIRST_MS;
  let restartTimer: NodeJS.Timeout | undefined;
  /** Messages from the workers other than scrape replies (audit batches among them): the primary's idle trim watches it. */
  let messages = 0;
  const send = (w: Worker, m: ClusterMessage) => {
    if (w.isConnected()) w.send(m);
  };
  // With an admin listener, the request metrics are counted from the audit events the workers send here.
  const tally = o.admin ? createTally() : undefined;
  const auditIn = tally ? observingSink(o.audit, tally) : o.audit;
  const collector = createStatsCollector();
  let admin: AdminServer | undefined;
  try {
    if (o.admin) {
      // Loaded only with an admin listener: the metrics registry (prom-client) costs memory from the start.
      const { startPrimaryAdmin } = await import('./primary-admin.js');
      admin = await startPrimaryAdmin({
        listen: o.admin,
        draining: () => stopping,
        live,
        collector,
        tally: tally!,
        audit: o.audit,
      });
    }
  } catch (err) {
    await o.audit.close();
    o.unguard();
    throw err;
  }

  return new Promise<ExitCodeValue>((resolve, reject) => {
    let onAllExited: (() => void) | undefined;
    const fail = (err: StartupError) => {
      if (stopping) return;
      stopping = true;
      unsignal();
      for (const { worker } of live.values()) worker.process.kill('SIGKILL');
      void Promise.all([o.audit.close(), admin?.close()]).then(() => {
        o.unguard();
        reject(err);
      });
    };
    const fork = () => {
      restartTimer = undefined;
      const worker = cluster.fork();
      const started = Date.now();
      live.set(worker.id, { worker, bound: false, reloads });
      const unreceive = receiveAuditEvents(worker, auditIn);
      const init = () => {
        // While another worker holds the shared socket, ask for the configured port (the same cluster handle);
        // once none does, ask for the port already announced, so a restart keeps it.
        const others = [...live.values()].some((e) => e.bound && e.worker !== worker);
        const port = others || boundPort === undefined ? o.listen.port : boundPort;
        send(worker, { type: 'clef-init', certPem: ca.certPem, keyPem: ca.keyPem, port });
      };
      worker.on('message', (m: unknown) => {
        const known = isClusterMessage(m);
        // Replies to the admin's scrapes are not traffic: a supervisor polling /readyz must not keep the trim away.
        if (!known || m.type !== 'clef-stats') messages++;
        if (!known) return;
        collector.receive(worker.id, m);
        if (m.type === 'clef-hello') init();
        if (m.type === 'clef-failed') {
          fail(
            new StartupError(
              ExitCode.BindFailure,
              'listen failed',
              `${o.listen.host}:${o.listen.port}: ${m.reason}`,
            ),
          );
        }
        if (m.type !== 'clef-listening') return;
        const entry = live.get(worker.id);
        if (entry) {
          entry.bound = true;
          if (entry.reloads < reloads) {
            entry.reloads = reloads;
            send(worker, { type: 'clef-reload', certPem: ca.certPem, keyPem: ca.keyPem });
          }
        }
        boundPort ??= m.port;
        bound++;
        if (announced || bound < o.workers) return;
        announced = true;
        // SPEC §1: exactly one `listening` line, whatever log_level says (as in the single-process serve) —
        // once every worker is bound, so a supervisor that reads it gets the full capacity.
        logger.child({}, { level: 'info' }).info(
          {
            address: m.address,
            port: m.port,
            ...(admin === undefined ? {} : { admin_port: admin.port }),
            workers: o.workers,
          },
          'listening',
        );
      });
      worker.once('exit', (code, signal) => {
        unreceive();
        live.delete(worker.id);
        if (stopping) {
          if (live.size === 0) onAllExited?.();
          return;
        }
        if (!announced) {
          fail(
            new StartupError(
              ExitCode.Generic,
              'worker failed to start',
              `exit code ${code}, signal ${signal}`,
            ),
          );
          return;
        }
        if (Date.now() - started >= BACKOFF_RESET_AFTER_MS) delay = BACKOFF_FIRST_MS;
        logger.warn(
          { worker: worker.id, pid: worker.process.pid, code, signal, restart_in_ms: delay },
          'worker died; restarting',
        );
        restartTimer = setTimeout(fork, delay);
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      });
    };

    const finish = async (deadline: number) => {
      trim.stop();
      unsignal();
      // Last, as in the single process: the supervisor reads `/healthz` 503 until every worker is gone.
      await admin?.close();
      const report = await closeAuditBy(o.audit, deadline, o.auditName);
      const lost = report.audit_unsent + report.audit_dropped;
      logger[lost > 0 ? 'warn' : 'info'](report, 'stopped');
      logger.flush();
      o.unguard();
      resolve(ExitCode.Ok);
    };
    // The handlers stay installed until the end: a second signal during the drain must reach `now`.
    const stop = () => {
      stopping = true;
      clearTimeout(restartTimer);
    };
    const unsignal = onSignals({
      drain: (signal) => {
        stop();
        const deadline = Date.now() + o.drainTimeoutMs;
        for (const { worker } of live.values())
          send(worker, { type: 'clef-drain', timeoutMs: o.drainTimeoutMs });
        logger.info({ signal, drain_timeout_ms: o.drainTimeoutMs, workers: live.size }, 'draining');
        // A worker stuck past the deadline (plus the local grace) is killed: the drain is bounded (SPEC §8).
        const killer = setTimeout(() => {
          for (const { worker } of live.values()) worker.process.kill('SIGKILL');
        }, o.drainTimeoutMs + LOCAL_GRACE_MS);
        onAllExited = () => {
          clearTimeout(killer);
          void finish(deadline);
        };
        if (live.size === 0) onAllExited();
      },
      now: (signal) => {
        logger.info({ signal }, 'stopping now');
        o.audit.abort?.();
        for (const { worker } of live.values()) worker.process.kill('SIGKILL');
        onAllExited = () => void finish(Date.now());
        if (live.size === 0) onAllExited();
      },
      reload: () => {
        logger.info('SIGHUP: reloading the config file, CA and services');
        void o.reload().then((next) => {
          ca = next;
          reloads++;
          for (const entry of live.values()) {
            if (!entry.bound) continue;
            entry.reloads = reloads;
            send(entry.worker, { type: 'clef-reload', certPem: ca.certPem, keyPem: ca.keyPem });
          }
        });
      },
    });
    // The primary's heap grows with the workers' audit traffic: give it back after a quiet spell, as they do.
    const trim = startIdleTrim({
      activity: () => messages,
      onTrim: ({ ms }) =>
        logger.debug({ ms: Math.round(ms), role: 'primary' }, 'quiet spell: memory trimmed'),
    });
    for (let i = 0; i < o.workers; i++) fork();
  });
}
