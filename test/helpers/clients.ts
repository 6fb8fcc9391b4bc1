/**
 * Real command-line clients for the interception suites: curl and Python `requests`, spawned without the caller's
 * proxy variables so only the arguments decide the route. Each reports whether it is installed, so a suite can skip
 * (and say why) where it is absent.
 */
import { spawn, spawnSync } from 'node:child_process';

export interface ClientRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** True when `curl --version` runs. */
export const curlAvailable = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;

/** True when `python3 -c 'import requests'` runs. */
export const pythonRequestsAvailable =
  spawnSync('python3', ['-c', 'import requests'], { stdio: 'ignore' }).status === 0;

function run(cmd: string, args: string[]): Promise<ClientRun> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Run curl with `args`. */
export function runCurl(args: string[]): Promise<ClientRun> {
  return run('curl', args);
}

// One request with requests: prints {"status": …, "body": …, "headers": {…}} or {"error": "<exception class>"}.
const PY_REQUEST = `
import json, sys, requests
a = json.loads(sys.argv[1])
try:
    r = requests.request(a["method"], a["url"], proxies={"https": a["proxy"], "http": a["proxy"]},
                         verify=a["ca"], headers=a.get("headers") or {}, auth=tuple(a["auth"]) if a.get("auth") else None,
                         timeout=30)
    print(json.dumps({"status": r.status_code, "body": r.text, "headers": dict(r.headers)}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__}))
`;

export interface PythonRequest {
  readonly method?: string;
  readonly url: string;
  /** `http://user:token@127.0.0.1:<port>`. */
  readonly proxy: string;
  /** Path of the PEM file to trust. */
  readonly ca: string;
  readonly headers?: Record<string, string>;
  /** `[user, password]`: requests' own Basic auth, which the proxy should replace. */
  readonly auth?: readonly [string, string];
}

export interface PythonAnswer {
  readonly status?: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  readonly error?: string;
}

/** Send one request with Python `requests` through a proxy. */
export async function pythonRequest(req: PythonRequest): Promise<PythonAnswer> {
  const out = await run('python3', ['-c', PY_REQUEST, JSON.stringify({ method: 'GET', ...req })]);
  if (out.code !== 0) throw new Error(`python3 exited ${out.code}: ${out.stderr}`);
  return JSON.parse(out.stdout) as PythonAnswer;
}
