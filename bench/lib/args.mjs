// Command line of bench/run.mjs.
import { parseArgs } from 'node:util';

/** Scenario names in run order. The opt-in ones run only when named (`--profile` = `--scenario profile`). */
export const SCENARIO_NAMES = [
  'startup',
  'ka-c1',
  'ka-c32',
  'newconn-c8',
  'download-1m-c4',
  'upload-1m-c4',
  'early-answer-c4',
  'ws-echo',
  'h2-c32',
  'workers',
  'metrics-cost',
  'idle',
  'leaf',
  'profile',
];

const OPT_IN = new Set(['early-answer-c4', 'profile']);
const LOAD_NAMES = ['ka-c1', 'ka-c32', 'newconn-c8', 'download-1m-c4', 'upload-1m-c4', 'early-answer-c4'];

export const USAGE = `usage: node bench/run.mjs [options]   (npm run bench -- [options])
  --quick               short smoke run: 1 round of 1 s, 100 idle connections, 2 start-ups
  --scenario <name>     run only this scenario (repeatable, or comma-separated):
                        ${SCENARIO_NAMES.join(', ')}
                        (early-answer-c4 and profile only when named)
  --rounds <n>          interleaved rounds per load scenario, ws-echo, h2-c32, workers and metrics-cost
                        (default 3)
  --duration <s>        measured seconds per round and path (default 5; warm-up is a fifth of it, ≥ 0.3 s)
  --idle-connections <n>  idle MITM'd connections to hold open (default 1000)
  --settle <s>          after the load scenarios, leave the proxy idle this long and read its RSS again: what
                        it keeps once the load has stopped (default 25; 0 skips it, as --quick does)
  --upstream <kind>     auto (default: nginx when installed, else node), node or nginx
  --audit <sink>        the proxy's audit sink: file (default, in the temp dir) or stdout (to /dev/null)
  --client <which>      load clients: both (default: undici, and the native client hey when it is installed,
                        else skipped with the reason printed), undici, or hey (fails when hey is missing)
  --profile             also profile the proxy under keep-alive c=32 (node --cpu-prof) and list its top frames
  --profile-scenario <name>  profile this load scenario instead (ka-c1 … early-answer-c4)
  --out <file>          where to write the JSON results (default $BENCH_OUT, else bench/results/<timestamp>.json)
  --help

Environment: BENCH_PROXY_NODE_ARGS adds node flags to the proxy process (space-separated), for experiments
such as --max-semi-space-size=1. BENCH_PROXY_CONFIG adds top-level keys to the proxy's config (JSON).
workers: ka-c32 through proxies with workers 1, 2 and "auto" (CPU of the primary plus its workers);
metrics-cost: ka-c32 through a proxy without admin and one with admin, /metrics scraped once a second.`;

/**
 * Parse argv into the run's settings. Throws a TypeError with a one-line reason for bad input.
 * @param {string[]} argv
 * @param {string | undefined} benchOut  the BENCH_OUT environment variable
 */
export function parseBenchArgs(argv, benchOut) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      scenario: { type: 'string', multiple: true },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      'idle-connections': { type: 'string' },
      settle: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'profile-scenario': { type: 'string', default: 'ka-c32' },
      upstream: { type: 'string', default: 'auto' },
      audit: { type: 'string', default: 'file' },
      client: { type: 'string', default: 'both' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick;
  const wanted = (values.scenario ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of wanted) {
    if (!SCENARIO_NAMES.includes(name)) throw new TypeError(`unknown scenario "${name}"`);
  }
  const profileScenario = values['profile-scenario'];
  if (!LOAD_NAMES.includes(profileScenario)) throw new TypeError(`--profile-scenario: not a load scenario`);
  const selected = new Set(wanted.length ? wanted : SCENARIO_NAMES.filter((n) => !OPT_IN.has(n)));
  if (values.profile) selected.add('profile');
  const positive = (text, name, fallback) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new TypeError(`--${name} must be a positive number`);
    return n;
  };
  if (!['auto', 'node', 'nginx'].includes(values.upstream))
    throw new TypeError('--upstream must be auto, node or nginx');
  if (!['file', 'stdout'].includes(values.audit)) throw new TypeError('--audit must be file or stdout');
  if (!['both', 'undici', 'hey'].includes(values.client))
    throw new TypeError('--client must be both, undici or hey');
  const durationMs = positive(values.duration, 'duration', quick ? 1 : 5) * 1000;
  const settle = values.settle === undefined ? (quick ? 0 : 25) : Number(values.settle);
  if (!Number.isFinite(settle) || settle < 0) throw new TypeError('--settle must be 0 or a positive number');
  return {
    help: values.help,
    quick,
    scenarios: SCENARIO_NAMES.filter((n) => selected.has(n)),
    rounds: Math.round(positive(values.rounds, 'rounds', quick ? 1 : 3)),
    durationMs,
    settleMs: settle * 1000,
    warmupMs: Math.max(300, durationMs / 5),
    idleConnections: Math.round(positive(values['idle-connections'], 'idle-connections', quick ? 100 : 1000)),
    startupRuns: quick ? 2 : 5,
    leafSamples: quick ? 50 : 300,
    profileMs: quick ? 2000 : 10_000,
    profileScenario,
    upstream: values.upstream,
    audit: values.audit,
    client: values.client,
    out: values.out ?? benchOut,
  };
}
