/**
 * The agent-backed {@link CredentialSource} (SPEC §5): waits for `/v1/ready`, loads the first services document,
 * then keeps it fresh with the poller and serves secrets through the TTL cache. Startup failures are
 * {@link StartupError}s carrying the §1 exit code (3 agent unreachable, 4 token rejected).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, StartupError } from '../exit-codes.js';
import type { Logger } from '../log/logger.js';
import { type AgentClient, AgentError, createAgentClient } from './client.js';
import { type IdentityTable, parseIdentitiesDoc } from './identities.js';
import { createIdentityPoller } from './identity-poller.js';
import { createServicesPoller } from './poller.js';
import { createSecretCache } from './secret-cache.js';
import { parseServicesDoc } from './services.js';
import type { CredentialSource, ServiceIndex } from './source.js';

/** Options for {@link createAgentSource}; the agent settings of SPEC §3 plus the token from the environment. */
export interface AgentSourceOptions {
  readonly url: string;
  readonly token: string;
  readonly readyTimeoutMs: number;
  /** SPEC §5: 250 ms. */
  readonly readyIntervalMs?: number;
  readonly refreshMs: number;
  readonly secretTtlMs: number;
  /** Deadline for each agent request. Default 5000 ms. */
  readonly requestTimeoutMs?: number;
  readonly logger: Logger;
}

/** An agent source; `close()` stops the pollers and destroys the pooled sockets. */
export type AgentSource = CredentialSource & { close(): Promise<void> };

/** The URL as shown in messages: userinfo dropped, no trailing slash. */
function displayUrl(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.href.replace(/\/+$/, '');
}

/**
 * Poll `/v1/ready` every `intervalMs` until it answers 200, or throw exit code 3 once `timeoutMs` has passed.
 * Connection errors count as "not ready yet": the agent may still be starting.
 */
export async function waitForReady(args: {
  readonly client: Pick<AgentClient, 'ready'>;
  readonly url: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
}): Promise<void> {
  const { client, timeoutMs, intervalMs = 250 } = args;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    // A hung agent must not stretch the wait past the deadline by a whole request timeout.
    const budget = Math.max(100, deadline - Date.now());
    try {
      if (await client.ready({ timeoutMs: budget })) return;
      last = 'answered a status other than 200';
    } catch (err) {
      last = err instanceof Error ? err.message : 'request failed';
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      // SPEC §1: one line. The last attempt's outcome goes on it, after the contract's sentence.
      const why = `${displayUrl(args.url)} did not answer 200 on /v1/ready within ${timeoutMs} ms (last attempt: ${last})`;
      throw new StartupError(ExitCode.AgentUnreachable, 'agent not ready', why);
    }
    await sleep(Math.min(intervalMs, left));
  }
}

/** The first `/v1/services` fetch, mapped to the §1 exit codes. */
async function loadFirst(client: AgentClient, url: string): Promise<{ index: ServiceIndex; etag?: string }> {
  const shown = displayUrl(url);
  let res: Awaited<ReturnType<AgentClient['services']>>;
  try {
    res = await client.services();
  } catch (err) {
    if (err instanceof AgentError && err.kind === 'unauthorized') {
      throw new StartupError(ExitCode.AuthMisconfig, 'agent rejected the token', `${shown}${err.message}`);
    }
    const why = err instanceof Error ? err.message : 'request failed';
    throw new StartupError(ExitCode.AgentUnreachable, 'agent services unavailable', `${shown}${why}`, {
      cause: err,
    });
  }
  if (res.status !== 'ok') {
    throw new StartupError(ExitCode.AgentUnreachable, 'agent services unavailable', `${shown} answered 304`);
  }
  const parsed = parseServicesDoc(res.doc);
  if (!parsed.ok) {
    const why = `${shown}/v1/services sent a document with ${parsed.issues.length} issue(s)`;
    throw new StartupError(ExitCode.AgentUnreachable, 'agent services invalid', why, {
      details: parsed.issues,
    });
  }
  return res.etag === undefined ? { index: parsed.index } : { index: parsed.index, etag: res.etag };
}

/**
 * The first `/v1/identities` fetch (issue 12). 404 ⇒ the agent has no identities: undefined, and every username
 * shares `CLEF_PROXY_TOKEN`. 401 ⇒ exit 4, as for services. Anything else that is not a valid document ⇒ exit 3:
 * an agent that serves identities but cannot give them now must not start us in the weaker shared-token mode.
 */
async function loadIdentities(
  client: AgentClient,
  url: string,
): Promise<{ table: IdentityTable | undefined; etag?: string }> {
  const shown = displayUrl(url);
  let res: Awaited<ReturnType<AgentClient['identities']>>;
  try {
    res = await client.identities();
  } catch (err) {
    if (err instanceof AgentError && err.kind === 'unauthorized') {
      throw new StartupError(ExitCode.AuthMisconfig, 'agent rejected the token', `${shown}${err.message}`);
    }
    const why = err instanceof Error ? err.message : 'request failed';
    throw new StartupError(ExitCode.AgentUnreachable, 'agent identities unavailable', `${shown}${why}`, {
      cause: err,
    });
  }
  if (res.status === 'unsupported') return { table: undefined };
  if (res.status !== 'ok') {
    throw new StartupError(
      ExitCode.AgentUnreachable,
      'agent identities unavailable',
      `${shown} answered 304`,
    );
  }
  const parsed = parseIdentitiesDoc(res.doc);
  if (!parsed.ok) {
    const why = `${shown}/v1/identities sent a document with ${parsed.issues.length} issue(s)`;
    throw new StartupError(ExitCode.AgentUnreachable, 'agent identities invalid', why, {
      details: parsed.issues,
    });
  }
  return res.etag === undefined ? { table: parsed.table } : { table: parsed.table, etag: res.etag };
}

/**
 * Connect to the agent and return a running source. Throws {@link StartupError}: exit 3 when the agent is not
 * ready in time or its first services answer fails or is malformed, exit 4 when it rejects the token, exit 2 for
 * a URL that is not `http://` on loopback.
 */
export async function createAgentSource(options: AgentSourceOptions): Promise<AgentSource> {
  const { url, logger } = options;
  let client: AgentClient;
  try {
    client = createAgentClient({ url, token: options.token, timeoutMs: options.requestTimeoutMs ?? 5000 });
  } catch (err) {
    const why = err instanceof Error ? err.message : 'invalid';
    if (err instanceof AgentError) throw new StartupError(ExitCode.AuthMisconfig, 'invalid agent token', why);
    throw new StartupError(ExitCode.InvalidConfig, 'invalid agent url', why);
  }
  let first: { index: ServiceIndex; etag?: string };
  let firstIdentities: { table: IdentityTable | undefined; etag?: string };
  try {
    const readyArgs = { client, url, timeoutMs: options.readyTimeoutMs };
    await waitForReady({ ...readyArgs, intervalMs: options.readyIntervalMs ?? 250 });
    first = await loadFirst(client, url);
    firstIdentities = await loadIdentities(client, url);
  } catch (err) {
    client.close();
    throw err;
  }
  logger.info({ revision: first.index.revision, services: first.index.services.length }, 'services loaded');
  // For /readyz and /metrics: the last time the agent answered at all, and how many refreshes failed.
  let lastContactMs: number | undefined = Date.now();
  let refreshFailures = 0;
  const contact = <T>(answer: T): T => {
    lastContactMs = Date.now();
    return answer;
  };
  const identityCount = firstIdentities.table?.byName.size;
  if (identityCount === undefined)
    logger.info('agent serves no identities: one workload token for every username');
  else logger.info({ identities: identityCount }, 'identities loaded');
  const identities = createIdentityPoller({
    fetch: (etag) => client.identities(etag).then(contact),
    refreshMs: options.refreshMs,
    initial: firstIdentities.table,
    initialEtag: firstIdentities.etag,
    onWarning: (message) => logger.warn(message),
    onUpdate: (table) => logger.info({ identities: table.byName.size }, 'identities updated'),
  });

  const listeners = new Set<(index: ServiceIndex) => void>();
  const poller = createServicesPoller({
    client: { services: (etag) => client.services(etag).then(contact) },
    refreshMs: options.refreshMs,
    initial: first.index,
    initialEtag: first.etag,
    onWarning: (message) => {
      refreshFailures++;
      logger.warn(message);
    },
    onUpdate(index) {
      logger.info({ revision: index.revision, services: index.services.length }, 'services updated');
      for (const listener of listeners) {
        try {
          listener(index);
        } catch (err) {
          logger.error({ err }, 'services listener failed');
        }
      }
    },
  });
  const cache = createSecretCache({
    ttlMs: options.secretTtlMs,
    fetch: (key) => client.secret(key).then(contact),
  });

  return {
    services: () => poller.current(),
    identities: () => identities.current(),
    secret: (key) => cache.get(key),
    health: () => ({ lastContactMs, refreshMs: options.refreshMs }),
    stats: () => ({ secretCacheHits: cache.hits, secretCacheMisses: cache.misses, refreshFailures }),
    refresh: async () => {
      await Promise.all([poller.refreshNow(), identities.refreshNow()]);
    },
    onServices(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      poller.stop();
      identities.stop();
      cache.clear();
      listeners.clear();
      client.close();
    },
  };
}
