/**
 * `clef-proxy serve` (SPEC §1, §8): the startup checks in their locked order — config (2) → tokens (4) → CA (5) →
 * agent (3) → bind (6) — then signals, the `listening` line, and a drain that ends in exit 0.
 */
import cluster from 'node:cluster';
import { readFile } from 'node:fs/promises';
import { createAgentSource } from '../agent/agent-source.js';
import { type AuditErrorSource, createAuditSink } from '../audit/create-sink.js';
import { createSwappableSink } from '../audit/swappable-sink.js';
import { runPrimary } from '../cluster/primary.js';
import { runWorker } from '../cluster/worker.js';
import type { Env } from '../config/env.js';
import { loadConfigFile } from '../config/load.js';
import { resolveServe, type ServeSettings } from '../config/resolve.js';
import { ExitCode, type ExitCodeValue, StartupError } from '../exit-codes.js';
import { closeAuditBy, LOCAL_GRACE_MS, until } from '../lifecycle/close-audit.js';
import { guardProcess, onSignals } from '../lifecycle/signals.js';
import { createLogger } from '../log/logger.js';
import { AdminListenError, type RunningProxy, startProxy } from '../proxy.js';
import { resolveCaDir } from '../tls/ca-dir.js';
import { loadCa, loadOrCreateCa } from '../tls/ca-store.js';
import type { CliIo } from './io.js';
import { reloadConfig } from './reload.js';

/** At most one 'audit write failed' line per this interval. */
const AUDIT_ERROR_INTERVAL_MS = 10_000;

export interface ServeArgs {
  readonly configPath: string;
  readonly lambdaLoopbackOnly: boolean;
}

async function readUpstreamCa(path: string | undefined): Promise<string[]> {
  if (path === undefined) return [];
  try {
    return [await readFile(path, 'utf8')];
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new StartupError(
      ExitCode.InvalidConfig,
      'invalid config',
      `upstream_ca_file ${path} is not readable (${why})`,
    );
  }
}

/** Run the daemon until a signal drains it. Resolves to the exit code; throws StartupError for startup failures. */
export async function runServe(args: ServeArgs, _io: CliIo, env: Env): Promise<ExitCodeValue> {
  const config = await loadConfigFile(args.configPath);
  const upstreamCa = await readUpstreamCa(config.upstreamCaFile);
  // A node:cluster worker (config `workers` > 1) re-runs this command; the primary has done the checks below.
  if (cluster.isWorker) return runWorker({ ...args, config, upstreamCa }, env);
  const settings = resolveServe(config, env, { lambdaLoopbackOnly: args.lambdaLoopbackOnly });
  const logger = createLogger(config.logLevel);
  for (const warning of settings.warnings) logger.warn(warning);

  const caDir = resolveCaDir(config.caDir, env);
  const ca = await loadOrCreateCa(caDir);

  const source = await createAgentSource({
    url: settings.agentUrl,
    token: settings.agentToken,
    readyTimeoutMs: config.agent.readyTimeoutMs,
    refreshMs: config.agent.servicesRefreshMs,
    secretTtlMs: config.agent.secretTtlMs,
    logger,
  });

  // A full disk or a dead receiver fails every batch: per sink, log the first failure at once, then at most one
  // line per interval, each with that sink's running count of dropped events (docs/audit.md) — the operator sees
  // the loss without a flood, and one failing sink never hides another's.
  const lastAuditError = new Map<string, number>();
  const makeAudit = (sinks: ServeSettings['audit']) =>
    createAuditSink(sinks, {
      extraCa: upstreamCa,
      onError: (err: Error, from?: AuditErrorSource) => {
        const name = from?.sink ?? sinks[0]?.sink ?? 'audit';
        const now = Date.now();
        if (now - (lastAuditError.get(name) ?? 0) < AUDIT_ERROR_INTERVAL_MS) return;
        lastAuditError.set(name, now);
        const dropped = from?.dropped ?? audit.stats().dropped;
        logger.error({ sink: name, err: err.message, dropped_events: dropped }, 'audit write failed');
      },
    });
  // A SIGHUP with a changed `audit` section swaps the sinks behind this switch (cli/reload.ts).
  const audit = createSwappableSink(makeAudit(settings.audit), config.audit[0]?.sink ?? 'audit');
  const unguard = guardProcess(logger);
  if (settings.workers > 1) {
    // Every worker polls the agent itself; the primary's source only proved the agent ready (exit 3 otherwise).
    await source.close?.();
    let running = config;
    // The primary has no proxy of its own: a reload here swaps its sinks and log level; workers do the rest.
    const noProxy = { reconfigure() {} } as unknown as RunningProxy;
    const flags = { lambdaLoopbackOnly: args.lambdaLoopbackOnly };
    const target = { configPath: args.configPath, env, flags, logger, proxy: noProxy, audit, makeAudit };
    let current = ca;
    return runPrimary({
      workers: settings.workers,
      listen: config.listen,
      ...(config.admin ? { admin: config.admin.listen } : {}),
      ca,
      audit,
      auditName: config.audit[0]?.sink ?? 'audit',
      drainTimeoutMs: settings.drainTimeoutMs,
      logger,
      unguard,
      reload: async () => {
        running = await reloadConfig(target, running);
        try {
          current = await loadCa(caDir);
          logger.info('CA reloaded');
        } catch (err) {
          logger.error({ err: String(err) }, 'CA reload failed; keeping the current CA');
        }
        return current;
      },
    });
  }
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy({
      listen: config.listen,
      ca,
      source,
      workloadToken: settings.workloadToken,
      passthroughHosts: config.passthroughHosts.map((h) => h.key),
      upstreamProxy: {
        ...(settings.upstreamProxy.https ? { https: settings.upstreamProxy.https } : {}),
        ...(settings.upstreamProxy.http ? { http: settings.upstreamProxy.http } : {}),
        noProxy: settings.upstreamProxy.noProxy,
      },
      upstreamCa,
      audit,
      limits: config.limits,
      egress: config.egress,
      logger,
      trimWhenIdle: true,
      ...(config.admin ? { admin: { listen: config.admin.listen } } : {}),
    });
  } catch (err) {
    unguard();
    await source.close?.();
    await audit.close();
    if (err instanceof AdminListenError && config.admin) {
      const at = config.admin.listen;
      throw new StartupError(
        ExitCode.BindFailure,
        'admin listen failed',
        `${at.host}:${at.port}: ${(err.cause as NodeJS.ErrnoException).code ?? err.message}`,
        { cause: err },
      );
    }
    const e = err as NodeJS.ErrnoException;
    throw new StartupError(
      ExitCode.BindFailure,
      'listen failed',
      `${config.listen.host}:${config.listen.port}: ${e.code ?? e.message}`,
      { cause: err },
    );
  }
  // SPEC §1: exactly one `listening` line, which the supervisor reads the port from — whatever log_level says.
  // A child may be more verbose than its parent in pino, so this line is written even at `warn` or `silent`.
  const listening = {
    address: proxy.address,
    port: proxy.port,
    ...(proxy.adminPort === undefined ? {} : { admin_port: proxy.adminPort }),
  };

  const auditName = config.audit[0]?.sink ?? 'audit';
  // Reloads run one after another: a second SIGHUP during a reload applies the file as it is then.
  let running = config;
  let reloads = Promise.resolve();
  const reloadTarget = {
    configPath: args.configPath,
    env,
    flags: { lambdaLoopbackOnly: args.lambdaLoopbackOnly },
    logger,
    proxy,
    audit,
    makeAudit,
  };
  return new Promise<ExitCodeValue>((resolve) => {
    let finished = false;
    // SPEC §8 plus docs/audit.md: the drain, the audit flush included, ends by drain_timeout_ms after the signal;
    // whatever a sink still holds then is counted on the `stopped` line as unsent.
    const finish = async (deadline: number) => {
      if (finished) return;
      finished = true;
      unsignal();
      await source.close?.();
      const report = await closeAuditBy(audit, deadline, auditName);
      const lost = report.audit_unsent + report.audit_dropped;
      logger[lost > 0 ? 'warn' : 'info'](report, 'stopped');
      logger.flush();
      unguard();
      resolve(ExitCode.Ok);
    };
    const unsignal = onSignals({
      drain: (signal) => {
        // drain() closes the listener before it returns: log after it, so "draining" is only ever read once new
        // connections are already refused (a supervisor may act on the line).
        const deadline = Date.now() + settings.drainTimeoutMs;
        const drained = proxy.drain(settings.drainTimeoutMs);
        logger.info({ signal, drain_timeout_ms: settings.drainTimeoutMs }, 'draining');
        // drain() ends by flushing the audit sink, which a dead receiver would hold up: bound it by the deadline.
        void until(drained, deadline).then(() => finish(deadline));
      },
      now: (signal) => {
        logger.info({ signal }, 'stopping now');
        // Give up on undelivered audit events at once; closeAuditBy counts them.
        audit.abort?.();
        void until(proxy.close(), Date.now() + LOCAL_GRACE_MS).then(() => finish(Date.now()));
      },
      reload: () => {
        logger.info('SIGHUP: reloading the config file, CA and services');
        reloads = reloads
          .then(() => reloadConfig(reloadTarget, running))
          .then((next) => {
            running = next;
          });
        loadCa(caDir)
          .then((next) => proxy.reloadCa(next))
          .then(() => logger.info('CA reloaded'))
          .catch((err: unknown) =>
            logger.error({ err: String(err) }, 'CA reload failed; keeping the current CA'),
          );
        source
          .refresh?.()
          .catch((err: unknown) => logger.warn({ err: String(err) }, 'services refresh failed'));
      },
    });
    // After the signal handlers: a supervisor may send SIGTERM the moment it reads this line, and a signal that
    // arrives before them meets the default action (killed, not drained, no exit 0).
    logger.child({}, { level: 'info' }).info(listening, 'listening');
  });
}
