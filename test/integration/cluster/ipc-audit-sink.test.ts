/**
 * The worker → primary audit channel (issue 14 `workers` groundwork): every event a child writes reaches the
 * parent's sink exactly once, in order, and the child's flush resolves only once all of them are on the channel.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/events.js';
import { receiveAuditEvents } from '../../../src/cluster/ipc-audit-sink.js';

const N = 2000;

describe('IPC audit sink', () => {
  it('delivers every event once and in order before the child exits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clef-ipc-audit-'));
    const mod = pathToFileURL(join(process.cwd(), 'dist/cluster/ipc-audit-sink.js')).href;
    const script = join(dir, 'child.mjs');
    await writeFile(
      script,
      `import { createIpcAuditSink } from ${JSON.stringify(mod)};
const sink = createIpcAuditSink(process);
for (let i = 0; i < ${N}; i++) sink.write({ event: 'deny', decision: 'deny', reason: 'not_tls', conn_id: 'c' + i });
await sink.flush();
process.disconnect();
`,
    );
    try {
      const child = fork(script, [], { stdio: 'ignore' });
      const got: AuditEvent[] = [];
      receiveAuditEvents(child, { write: (e) => got.push(e), flush: async () => {}, close: async () => {} });
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      expect(got).toHaveLength(N);
      expect(got.map((e) => e.conn_id)).toEqual(Array.from({ length: N }, (_, i) => `c${i}`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('with a turn barrier: one message per turn, sent before the writes the barrier held', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clef-ipc-audit-'));
    const dist = (f: string) => JSON.stringify(pathToFileURL(join(process.cwd(), 'dist', f)).href);
    const script = join(dir, 'child.mjs');
    // 20 turns of 100 events; in each, a held function reports how many messages the sink had sent by then.
    await writeFile(
      script,
      `import { createIpcAuditSink } from ${dist('cluster/ipc-audit-sink.js')};
import { createTurnBarrier } from ${dist('audit/turn-barrier.js')};
const barrier = createTurnBarrier();
let sent = 0;
const send = process.send.bind(process);
process.send = (m, cb) => { if (m.type === 'clef-audit') sent++; return send(m, cb); };
const sink = createIpcAuditSink(process, () => {}, barrier);
const heldSaw = [];
for (let t = 0; t < 20; t++) {
  for (let i = 0; i < 100; i++) sink.write({ event: 'deny', decision: 'deny', reason: 'not_tls', conn_id: 'c' + (t * 100 + i) });
  barrier.hold(() => heldSaw.push(sent));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
}
await sink.flush();
send({ type: 'held', heldSaw });
process.disconnect();
`,
    );
    try {
      const child = fork(script, [], { stdio: 'ignore' });
      const got: AuditEvent[] = [];
      let messages = 0;
      let heldSaw: number[] = [];
      child.on('message', (m: { type: string; heldSaw?: number[] }) => {
        if (m.type === 'clef-audit') messages++;
        if (m.type === 'held') heldSaw = m.heldSaw ?? [];
      });
      receiveAuditEvents(child, { write: (e) => got.push(e), flush: async () => {}, close: async () => {} });
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      expect(got.map((e) => e.conn_id)).toEqual(Array.from({ length: N }, (_, i) => `c${i}`));
      expect(messages).toBe(20);
      // Each turn's held function ran after that turn's message was sent.
      expect(heldSaw).toEqual(Array.from({ length: 20 }, (_, t) => t + 1));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
