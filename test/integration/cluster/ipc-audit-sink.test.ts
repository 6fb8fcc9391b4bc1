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
});
