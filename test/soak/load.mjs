// The soak's load: `clients` kept-alive workers (one undici ProxyAgent each, so one tunnel per origin per worker)
// plus `churn` churning workers that open a brand-new connection (a fresh ProxyAgent) for every request, for as
// long as `running()`.
// The mix: intercepted requests for all three auth types (bearer, api_key_header, api_key_query, told apart by
// path prefix on `localhost`) and passthrough requests (TLS end to end through a blind tunnel to 127.0.0.1).
// About `abortRate` of the requests go to a slow endpoint and are aborted by the client after the first chunk.
import { setTimeout as sleep } from 'node:timers/promises';
import { ProxyAgent, request } from 'undici';

const KINDS = ['bearer', 'bearer', 'header', 'query', 'plain'];

/** Counters the soak reports; `intercepted` and `plain` split by outcome. */
export function newCounters() {
  return {
    intercepted: { completed: 0, aborted: 0 },
    plain: { completed: 0, aborted: 0 },
    newConnections: 0,
    errors: 0,
    errorKinds: new Map(),
  };
}

function recordError(counters, kind, err) {
  counters.errors++;
  const key = `${kind === 'plain' ? 'passthrough' : 'intercepted'}: ${String(err?.code ?? err?.message ?? err).slice(0, 120)}`;
  counters.errorKinds.set(key, (counters.errorKinds.get(key) ?? 0) + 1);
}

/** One request on `dispatcher`: checked (status 200, expected body) or deliberately aborted. */
async function one(opts, counters, dispatcher, abortRate) {
  const kind = KINDS[Math.floor(Math.random() * KINDS.length)];
  const abort = Math.random() < abortRate;
  const host = kind === 'plain' ? `127.0.0.1:${opts.upstreamPort}` : `localhost:${opts.upstreamPort}`;
  const path = `/${kind}/soak${abort ? '/slow' : ''}`;
  const bucket = kind === 'plain' ? counters.plain : counters.intercepted;
  try {
    const res = await request(`https://${host}${path}?q=1`, { dispatcher });
    if (abort) {
      // Wait for the first body bytes, so the request has surely reached the upstream, then hang up mid-body.
      await new Promise((resolve) => {
        res.body.once('data', () => res.body.destroy());
        res.body.once('error', resolve);
        res.body.once('close', resolve);
        res.body.once('end', resolve);
      });
      bucket.aborted++;
      return;
    }
    const body = await res.body.text();
    if (res.statusCode !== 200 || body !== `ok ${path}`) {
      throw new Error(`${kind}: status ${res.statusCode}, ${body.slice(0, 60)}`);
    }
    bucket.completed++;
  } catch (err) {
    recordError(counters, kind, err);
  }
}

/**
 * Run the load until `running()` turns false; resolves once every worker has stopped and closed its connections.
 * `opts`: { proxyUrl, proxyAuth, ca, upstreamPort, clients, churn, thinkMs, newConnEveryMs, abortRate }.
 */
export async function runLoad(opts, counters, running) {
  // keepAliveMaxTimeout: a client lets an idle connection go after 2 s, well before the upstream closes its end
  // of an idle one (5 s): on a passthrough tunnel that upstream is the client's peer, and a request sent as the
  // upstream closes would fail on the direct path just the same (undici's own margin is 2 s of a late timer on
  // this loaded event loop). The proxy's pool meets those closes itself, without this margin.
  const agent = (connections) =>
    new ProxyAgent({
      uri: opts.proxyUrl,
      token: opts.proxyAuth,
      requestTls: { ca: opts.ca },
      connections,
      keepAliveMaxTimeout: 2_000,
    });

  const worker = async () => {
    const dispatcher = agent(1);
    // Spread the workers' first requests: 200 CONNECTs in the same tick would measure a thundering herd.
    await sleep(Math.random() * 1000);
    while (running()) {
      await one(opts, counters, dispatcher, opts.abortRate);
      if (opts.thinkMs > 0) await sleep(Math.random() * 2 * opts.thinkMs);
    }
    await dispatcher.close();
  };

  // One new connection per request, aborts included: an aborted request on a fresh connection is the case where
  // the client's only socket goes away mid-response.
  const churner = async () => {
    await sleep(Math.random() * opts.newConnEveryMs);
    while (running()) {
      const dispatcher = agent(1);
      await one(opts, counters, dispatcher, opts.abortRate);
      await dispatcher.close();
      counters.newConnections++;
      await sleep(opts.newConnEveryMs);
    }
  };

  await Promise.all([
    ...Array.from({ length: opts.clients }, worker),
    ...Array.from({ length: opts.churn }, churner),
  ]);
}
