// The soak's load: `clients` kept-alive workers (one undici ProxyAgent each, so one tunnel per origin per worker)
// plus a steady stream of brand-new connections (a fresh ProxyAgent per request), for as long as `running()`.
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

function recordError(counters, err) {
  counters.errors++;
  const key = String(err?.code ?? err?.message ?? err).slice(0, 120);
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
    recordError(counters, err);
  }
}

/**
 * Run the load until `running()` turns false; resolves once every worker has stopped and closed its connections.
 * `opts`: { proxyUrl, proxyAuth, ca, upstreamPort, clients, thinkMs, newConnEveryMs, abortRate }.
 */
export async function runLoad(opts, counters, running) {
  const agent = (connections) =>
    new ProxyAgent({ uri: opts.proxyUrl, token: opts.proxyAuth, requestTls: { ca: opts.ca }, connections });

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

  const fresh = async () => {
    const inflight = new Set();
    while (running()) {
      if (inflight.size < 20) {
        const dispatcher = agent(1);
        const p = one(opts, counters, dispatcher, 0).finally(async () => {
          await dispatcher.close();
          counters.newConnections++;
          inflight.delete(p);
        });
        inflight.add(p);
      }
      await sleep(opts.newConnEveryMs);
    }
    await Promise.all(inflight);
  };

  await Promise.all([...Array.from({ length: opts.clients }, worker), fresh()]);
}
