/**
 * One node:cluster worker of `clef-proxy serve` with `workers` > 1 (issue 14, README "Several cores"). The primary
 * has run the startup checks; it sends the CA PEM pair over IPC (never env, never a file), and the worker runs
 * `startProxy` on the shared listener with its own leaf and secret caches and its own agent polling. Audit goes
 * to the primary over IPC, so the primary stays the one writer. Signals are the primary's business: the worker
 * drains when the primary says so, or when the primary is gone.
 */
import cluster from 'node:cluster';
import { createAgentSource } from '../agent/agent-source.js';
import type { CountingAuditSink } from '../audit/create-sink.js';
import { createSwappableSink } from '../audit/swappable-sink.js';
import { createTurnBarrier } from '../audit/turn-barrier.js';
import { reloadConfig } from '../cli/reload.js';
import type { Env } from '../config/env.js';
import { resolveServe } from '../config/resolve.js';
import type { ProxyConfig } from '../config/types.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { guardProcess } from '../lifecycle/signals.js';
import { createLogger } from '../log/logger.js';
import { startProxy } from '../proxy.js';
import { validateCaPair } from '../tls/ca-validate.js';
import { createIpcAuditSink, type IpcChannel } from './ipc-audit-sink.js';
import { type InitMessage, isClusterMessage, type WorkerReport } from './messages.js';

/** What the worker needs from `serve`'s arguments. */
export interface WorkerArgs {
  readonly configPath: string;
  readonly config: ProxyConfig;
  readonly lambdaLoopbackOnly: boolean;
  readonly upstreamCa: readonly string[];
}

function report(message: WorkerReport): void {
  process.send?.(message);
}

function waitForInit(): Promise<InitMessage> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (!isClusterMessage(m) || m.type !== 'clef-init') return;
      process.off('message', onMessage);
      resolve(m);
    };
    process.on('message', onMessage);
    report({ type: 'clef-hello' });
  });
}

/** Run this worker until the primary tells it to drain (or disconnects). Resolves to its exit code. */
export async function runWorker(args: WorkerArgs, env: Env): Promise<ExitCodeValue> {
  // The primary coordinates the drain: a Ctrl-C reaching the whole process group must not kill workers outright.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => {});
  const init = await waitForInit();
  const { config } = args;
  const flags = { lambdaLoopbackOnly: args.lambdaLoopbackOnly };
  const settings = resolveServe(config, env, flags);
  const logger = createLogger(config.logLevel).child({ worker: cluster.worker?.id });
  let dropped = 0;
  // One barrier for the sink and the proxy: a turn's events go to the primary in one message, before the writes that
  // complete their responses (audit/turn-barrier.ts).
  const barrier = createTurnBarrier();
  const ipc = createIpcAuditSink(
    process as unknown as IpcChannel,
    (n) => {
      dropped += n;
    },
    barrier,
  );
  const counting: CountingAuditSink = { ...ipc, stats: () => ({ written: 0, dropped, queued: 0 }) };
  const audit = createSwappableSink(counting, 'ipc');
  const unguard = guardProcess(logger);
  const source = await createAgentSource({
    url: settings.agentUrl,
    token: settings.agentToken,
    readyTimeoutMs: config.agent.readyTimeoutMs,
    refreshMs: config.agent.servicesRefreshMs,
    secretTtlMs: config.agent.secretTtlMs,
    logger,
  });
  const up = settings.upstreamProxy;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy({
      listen: { host: config.listen.host, port: init.port },
      ca: { certPem: init.certPem, keyPem: init.keyPem },
      source,
      workloadToken: settings.workloadToken,
      passthroughHosts: config.passthroughHosts.map((h) => h.key),
      upstreamProxy: {
        ...(up.https ? { https: up.https } : {}),
        ...(up.http ? { http: up.http } : {}),
        noProxy: up.noProxy,
      },
      upstreamCa: args.upstreamCa,
      audit,
      auditBeforeLastByte: barrier,
      limits: config.limits,
      egress: config.egress,
      logger,
      trimWhenIdle: true,
      worker: { connIdPrefix: `w${cluster.worker?.id ?? 0}` },
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    report({ type: 'clef-failed', reason: e.code ?? e.message });
    await source.close?.();
    unguard();
    return ExitCode.BindFailure;
  }
  report({ type: 'clef-listening', address: proxy.address, port: proxy.port });
  let running = config;
  const target = { configPath: args.configPath, env, flags, logger, proxy, audit, makeAudit: () => counting };
  return new Promise<ExitCodeValue>((resolve) => {
    let draining = false;
    const drain = async (timeoutMs: number) => {
      if (draining) return;
      draining = true;
      await proxy.drain(timeoutMs);
      await source.close?.();
      await ipc.flush();
      logger.flush();
      unguard();
      resolve(ExitCode.Ok);
    };
    process.on('message', (m: unknown) => {
      if (!isClusterMessage(m)) return;
      if (m.type === 'clef-drain') void drain(m.timeoutMs);
      // The primary's admin (`/readyz`, `/metrics`): this worker's own verdict and figures.
      if (m.type === 'clef-stats-req') {
        report({ type: 'clef-stats', id: m.id, ready: proxy.readiness(), gauges: proxy.gauges() });
      }
      if (m.type === 'clef-reload') {
        void reloadConfig(target, running).then((next) => {
          running = next;
        });
        validateCaPair(m.certPem, m.keyPem)
          .then((check) => {
            if (!check.ok) throw new Error(check.why);
            return proxy.reloadCa(check.ca);
          })
          .catch((err: unknown) =>
            logger.error({ err: String(err) }, 'CA reload failed; keeping the current CA'),
          );
        source
          .refresh?.()
          .catch((err: unknown) => logger.warn({ err: String(err) }, 'services refresh failed'));
      }
    });
    // The primary died (or closed the channel): nobody can audit for us any more, so stop taking connections.
    process.on('disconnect', () => void drain(settings.drainTimeoutMs));
  });
}
