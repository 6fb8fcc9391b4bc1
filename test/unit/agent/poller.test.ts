import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentError, type ServicesResponse } from '../../../src/agent/client.js';
import { createServicesPoller, type ServicesPoller } from '../../../src/agent/poller.js';
import { parseServicesDoc } from '../../../src/agent/services.js';
import type { ServiceIndex } from '../../../src/agent/source.js';

function docFor(revision: string, host = 'a.test') {
  return { revision, services: [{ name: 's', hosts: [host], auth: { type: 'bearer', secret: 'K' } }] };
}

function indexFor(revision: string): ServiceIndex {
  const parsed = parseServicesDoc(docFor(revision));
  if (!parsed.ok) throw new Error('bad test doc');
  return parsed.index;
}

type Answer = ServicesResponse | Error | Promise<ServicesResponse>;

/** A scripted client: each call takes the next answer and records the ETag it was given. */
function scripted(...answers: Answer[]) {
  const etags: Array<string | undefined> = [];
  return {
    etags,
    services: (etag?: string) => {
      etags.push(etag);
      const next = answers.shift();
      if (next === undefined) throw new Error('no scripted answer left');
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  };
}

let poller: ServicesPoller | undefined;
afterEach(() => {
  poller?.stop();
  poller = undefined;
  vi.useRealTimers();
});

function start(client: ReturnType<typeof scripted>, refreshMs = 60_000) {
  const updates: string[] = [];
  const warnings: string[] = [];
  poller = createServicesPoller({
    client,
    refreshMs,
    initial: indexFor('r1'),
    initialEtag: '"r1"',
    onUpdate: (index) => updates.push(index.revision),
    onWarning: (message) => warnings.push(message),
  });
  return { poller, updates, warnings };
}

describe('createServicesPoller', () => {
  it('sends the ETag it holds and changes nothing on 304', async () => {
    const client = scripted({ status: 'not_modified' });
    const { poller, updates, warnings } = start(client);
    await poller.refreshNow();
    expect(client.etags).toEqual(['"r1"']);
    expect(poller.current().revision).toBe('r1');
    expect(updates).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('adopts a new revision, notifies once, and sends the new ETag next', async () => {
    const client = scripted(
      { status: 'ok', etag: '"r2"', doc: docFor('r2', 'b.test') },
      { status: 'not_modified' },
    );
    const { poller, updates } = start(client);
    await poller.refreshNow();
    await poller.refreshNow();
    expect(poller.current().revision).toBe('r2');
    expect(poller.current().byHost.has('b.test:443')).toBe(true);
    expect(updates).toEqual(['r2']);
    expect(client.etags).toEqual(['"r1"', '"r2"']);
  });

  it('keeps the last good set and warns when the agent fails', async () => {
    const client = scripted(
      new AgentError('http_status', '/v1/services: agent answered 500', { status: 500 }),
    );
    const { poller, updates, warnings } = start(client);
    await poller.refreshNow();
    expect(poller.current().revision).toBe('r1');
    expect(updates).toEqual([]);
    expect(warnings).toEqual([
      'services refresh failed: /v1/services: agent answered 500; keeping services revision r1',
    ]);
  });

  it('rejects a malformed document whole, keeps the old ETag, and warns with the issue paths', async () => {
    const bad = { revision: 'r2', services: [docFor('x').services[0], { name: '', hosts: ['b.test'] }] };
    const client = scripted({ status: 'ok', etag: '"r2"', doc: bad }, { status: 'not_modified' });
    const { poller, warnings } = start(client);
    await poller.refreshNow();
    expect(poller.current().revision).toBe('r1');
    expect(poller.current().services.length).toBe(1);
    expect(warnings[0]).toMatch(
      /^services document rejected .*services\.1\.name: .*keeping services revision r1$/,
    );
    await poller.refreshNow();
    expect(client.etags).toEqual(['"r1"', '"r1"']);
  });

  it('never overlaps polls: refreshNow during a poll runs one more after it', async () => {
    let resolveFirst: (r: ServicesResponse) => void = () => {};
    const first = new Promise<ServicesResponse>((r) => {
      resolveFirst = r;
    });
    let active = 0;
    let maxActive = 0;
    const answers: Array<Promise<ServicesResponse>> = [
      first,
      Promise.resolve({ status: 'ok', etag: '"r3"', doc: docFor('r3') }),
    ];
    const client = {
      etags: [] as Array<string | undefined>,
      services: async (etag?: string) => {
        client.etags.push(etag);
        active++;
        maxActive = Math.max(maxActive, active);
        try {
          return await (answers.shift() as Promise<ServicesResponse>);
        } finally {
          active--;
        }
      },
    };
    const { poller, updates } = start(client as ReturnType<typeof scripted>);
    const a = poller.refreshNow();
    const b = poller.refreshNow();
    const c = poller.refreshNow();
    expect(client.etags.length).toBe(1);
    resolveFirst({ status: 'ok', etag: '"r2"', doc: docFor('r2') });
    await Promise.all([a, b, c]);
    expect(maxActive).toBe(1);
    expect(client.etags).toEqual(['"r1"', '"r2"']);
    expect(updates).toEqual(['r2', 'r3']);
  });

  it('polls every refreshMs on an unref()d timer and stops on stop()', async () => {
    vi.useFakeTimers();
    const client = scripted(
      { status: 'not_modified' },
      { status: 'not_modified' },
      { status: 'not_modified' },
    );
    const { poller } = start(client, 1000);
    await vi.advanceTimersByTimeAsync(999);
    expect(client.etags.length).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(client.etags.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(client.etags.length).toBe(2);
    poller.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(client.etags.length).toBe(2);
  });

  it('warns, instead of rejecting, when a subscriber throws', async () => {
    const client = scripted({ status: 'ok', etag: '"r2"', doc: docFor('r2') });
    const warnings: string[] = [];
    poller = createServicesPoller({
      client,
      refreshMs: 60_000,
      initial: indexFor('r1'),
      initialEtag: undefined,
      onUpdate: () => {
        throw new Error('listener bug');
      },
      onWarning: (m) => warnings.push(m),
    });
    await expect(poller.refreshNow()).resolves.toBeUndefined();
    expect(poller.current().revision).toBe('r2');
    expect(warnings).toEqual(['a services listener failed on revision r2']);
    expect(client.etags).toEqual([undefined]);
  });
});
