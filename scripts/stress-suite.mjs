#!/usr/bin/env node
// Run the whole test suite N times in a row while a CPU hog keeps every core busy, and report the failures of
// each run: the check that the suite passes on a loaded machine (no test may depend on timing).
//
//   node scripts/stress-suite.mjs [--runs 5] [--hog auto|stress-ng|busy|none] [--hog-workers <n>]
//                                 [--cmd "npm test"] [--logs <dir>]
//
// --hog auto (default) uses `stress-ng --cpu <n>` when installed, else <n> busy-looping node processes; n defaults
// to the number of CPUs. Each run's whole output goes to <logs>/run-<i>.log (default: a new temp directory), and
// the table lists the failed test files and tests that vitest reported. Exits 1 when any run failed.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    hog: { type: 'string', default: 'auto' },
    'hog-workers': { type: 'string' },
    cmd: { type: 'string', default: 'npm test' },
    logs: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    readFileSync(new URL(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 10)
      .join('\n'),
  );
  process.exit(0);
}
const runs = Number(values.runs);
const workers = Number(values['hog-workers'] ?? cpus().length);
if (!(runs >= 1) || !(workers >= 1) || !['auto', 'stress-ng', 'busy', 'none'].includes(values.hog)) {
  process.stderr.write(
    'stress-suite: --runs and --hog-workers must be ≥ 1; --hog auto|stress-ng|busy|none\n',
  );
  process.exit(2);
}
const logs = values.logs ?? mkdtempSync(join(tmpdir(), 'clef-stress-'));
mkdirSync(logs, { recursive: true });
const log = (line) => process.stderr.write(`stress-suite: ${line}\n`);

const hogs = startHog(values.hog, workers);
const stopHogs = () => {
  for (const h of hogs) if (h.exitCode === null) h.kill('SIGKILL');
};
process.on('SIGINT', () => {
  stopHogs();
  process.exit(130);
});

const rows = [];
try {
  for (let i = 1; i <= runs; i++) {
    const file = join(logs, `run-${i}.log`);
    log(`run ${i}/${runs} (load average ${loadavg()[0].toFixed(1)}), output in ${file}`);
    const started = Date.now();
    const code = await runOnce(values.cmd, file);
    const failed = failures(readFileSync(file, 'utf8'));
    rows.push({
      run: i,
      code,
      seconds: Math.round((Date.now() - started) / 1000),
      load: loadavg()[0],
      failed,
    });
    log(`run ${i}: exit ${code}${failed.length ? `, failed: ${failed.join('; ')}` : ''}`);
  }
} finally {
  stopHogs();
}

const hogName = hogs.length ? `${values.hog === 'auto' ? hogs.kind : values.hog} × ${workers}` : 'none';
process.stdout.write(`\nCPU hog: ${hogName}; command: ${values.cmd}; logs: ${logs}\n\n`);
process.stdout.write('| run | exit | seconds | load 1m at end | failed |\n|---|---|---:|---:|---|\n');
for (const r of rows) {
  process.stdout.write(
    `| ${r.run} | ${r.code} | ${r.seconds} | ${r.load.toFixed(1)} | ${r.failed.join('; ') || (r.code === 0 ? '—' : 'see log')} |\n`,
  );
}
const bad = rows.filter((r) => r.code !== 0).length;
process.stdout.write(`\n${bad} of ${rows.length} runs failed\n`);
process.exit(bad ? 1 : 0);

/** Start the CPU hog: stress-ng when asked for (or present, under auto), else busy-looping node processes. */
function startHog(kind, n) {
  if (kind === 'none') return Object.assign([], { kind: 'none' });
  let stressNg;
  try {
    stressNg = execFileSync('sh', ['-c', 'command -v stress-ng'], { encoding: 'utf8' }).trim();
  } catch {}
  if (kind === 'stress-ng' && !stressNg) throw new Error('--hog stress-ng: stress-ng is not installed');
  if (stressNg && kind !== 'busy') {
    const child = spawn(stressNg, ['--cpu', String(n), '--quiet'], { stdio: 'ignore' });
    return Object.assign([child], { kind: 'stress-ng' });
  }
  const busy = Array.from({ length: n }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  return Object.assign(busy, { kind: 'busy' });
}

/** Run `cmd` through the shell with stdout and stderr into `file`; resolves with its exit code. */
function runOnce(cmd, file) {
  return new Promise((resolve) => {
    const out = createWriteStream(file);
    const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.once('close', (code, signal) => out.end(() => resolve(code ?? signal)));
  });
}

/** The failed test files and tests vitest reported ("FAIL file > suite > test"), or the failing npm step. */
function failures(text) {
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  const found = new Set();
  for (const m of plain.matchAll(/^\s*(?:FAIL|×)\s+(.+?)\s*$/gm)) found.add(m[1].slice(0, 200));
  if (found.size === 0) {
    const step = /npm (?:ERR!|error) command failed[\s\S]*?command sh -c (.+)/.exec(plain)?.[1];
    if (step) found.add(`step failed: ${step.slice(0, 120)}`);
  }
  return [...found];
}
