/**
 * SIGHUP re-reads the config file (issue 14). `passthrough_hosts`, `limits`, `log_level`, `audit` and
 * `upstream_proxy` apply to connections accepted from then on; open connections keep what they started with. A
 * change to `listen` or `admin.listen` is refused with a warning (the sockets are bound), as is any other key that
 * only takes effect at start. An invalid file changes nothing and logs every issue.
 */

import type { CountingAuditSink } from '../audit/create-sink.js';
import type { SwappableSink } from '../audit/swappable-sink.js';
import type { Env } from '../config/env.js';
import { loadConfigFile } from '../config/load.js';
import { resolveServe, type ServeFlags, type ServeSettings } from '../config/resolve.js';
import type { ProxyConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { RunningProxy } from '../proxy.js';

/** What a reload needs from the running daemon. */
export interface ReloadTarget {
  readonly configPath: string;
  readonly env: Env;
  readonly flags: ServeFlags;
  readonly logger: Logger;
  readonly proxy: RunningProxy;
  readonly audit: SwappableSink;
  /** Build the sinks for new (resolved) audit settings, with the same error reporting as the first ones. */
  readonly makeAudit: (sinks: ServeSettings['audit']) => CountingAuditSink;
}

/** Keys only a restart applies, by config path, with how to read each from a config. */
const RESTART_ONLY: ReadonlyArray<readonly [string, (c: ProxyConfig) => unknown]> = [
  ['listen', (c) => c.listen],
  ['admin.listen', (c) => c.admin?.listen],
  ['ca_dir', (c) => c.caDir],
  ['agent', (c) => c.agent],
  ['upstream_ca_file', (c) => c.upstreamCaFile],
  ['drain_timeout_ms', (c) => c.drainTimeoutMs],
  ['workers', (c) => c.workers],
  ['limits.leaf_cache_size', (c) => c.limits.leafCacheSize],
  ['egress', (c) => c.egress],
];

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function issuesOf(err: unknown): string[] {
  if (err instanceof Error) {
    const details = (err as { details?: readonly string[] }).details ?? [];
    return [err.message, ...details];
  }
  return [String(err)];
}

/**
 * Read the file again and apply what may change. Resolves with the config now in force (the old one when the
 * file is invalid); never rejects.
 */
export async function reloadConfig(target: ReloadTarget, running: ProxyConfig): Promise<ProxyConfig> {
  const { logger } = target;
  let next: ProxyConfig;
  let settings: ServeSettings;
  try {
    next = await loadConfigFile(target.configPath);
    settings = resolveServe(next, target.env, target.flags);
  } catch (err) {
    logger.error({ issues: issuesOf(err) }, 'config reload failed; keeping the running config');
    return running;
  }
  for (const [key, read] of RESTART_ONLY) {
    if (!same(read(running), read(next)))
      logger.warn({ key }, `config reload: ${key} changed; it applies only at restart, kept as it was`);
  }
  const up = settings.upstreamProxy;
  try {
    target.proxy.reconfigure({
      passthroughHosts: next.passthroughHosts.map((h) => h.key),
      limits: { ...next.limits, leafCacheSize: running.limits.leafCacheSize },
      upstreamProxy: {
        ...(up.https ? { https: up.https } : {}),
        ...(up.http ? { http: up.http } : {}),
        noProxy: up.noProxy,
      },
    });
  } catch (err) {
    logger.error({ issues: issuesOf(err) }, 'config reload failed; keeping the running config');
    return running;
  }
  const changed = ['passthrough_hosts', 'limits', 'log_level', 'audit', 'upstream_proxy'].filter((k) => {
    if (k === 'passthrough_hosts') return !same(running.passthroughHosts, next.passthroughHosts);
    if (k === 'limits') return !same(running.limits, next.limits);
    if (k === 'log_level') return running.logLevel !== next.logLevel;
    if (k === 'audit') return !same(running.audit, next.audit);
    return !same(running.upstreamProxy, next.upstreamProxy);
  });
  logger.level = next.logLevel;
  if (changed.includes('audit')) {
    // Events keep flowing through the switch; the old sink is flushed and closed behind it.
    await target.audit.swap(target.makeAudit(settings.audit), next.audit[0]?.sink ?? 'audit');
  }
  logger.info({ changed }, 'config reloaded');
  return {
    ...next,
    listen: running.listen,
    admin: running.admin,
    caDir: running.caDir,
    agent: running.agent,
    upstreamCaFile: running.upstreamCaFile,
    drainTimeoutMs: running.drainTimeoutMs,
    workers: running.workers,
    egress: running.egress,
    limits: { ...next.limits, leafCacheSize: running.limits.leafCacheSize },
  };
}
