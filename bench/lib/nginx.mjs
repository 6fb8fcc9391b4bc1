// nginx as the benchmark's upstream, when it is installed: one worker process (as the Node upstream has one
// event loop), so the upstream costs far less CPU per request than Node and more of this small machine is left
// for the client and the proxy. Same routes and `x-bench-auth` header as upstream-server.mjs; `/_stats` reads
// stub_status (accepted TCP connections).
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './procs.mjs';

/** The nginx binary on PATH, or undefined. */
export function findNginx() {
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A port that was free a moment ago (nginx cannot listen on port 0 and report the port). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/**
 * Whether `port` on 127.0.0.1 can be bound right now (443 needs root or CAP_NET_BIND_SERVICE).
 * @param {number} port
 */
export function canBind(port) {
  return new Promise((resolve) => {
    const s = createServer().listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    s.on('error', () => resolve(false));
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Children of `pid` (the nginx worker), from /proc. */
function childPids(pid) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {}
  }
  return out;
}

const q = (s) => JSON.stringify(s);

function config(dir, port, expectAuth, extraPort) {
  const certs = join(REPO_ROOT, 'fixtures/certs');
  const auth = expectAuth ? `${q(expectAuth)} yes;` : '';
  return `worker_processes 1;
user root root;
error_log ${q(join(dir, 'error.log'))} warn;
pid ${q(join(dir, 'nginx.pid'))};
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${q(join(dir, 'tmp'))};
  proxy_temp_path ${q(join(dir, 'tmp'))};
  fastcgi_temp_path ${q(join(dir, 'tmp'))};
  uwsgi_temp_path ${q(join(dir, 'tmp'))};
  scgi_temp_path ${q(join(dir, 'tmp'))};
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  default_type application/octet-stream;
  map $http_authorization $bench_auth { default no; ${auth} }
  # ?expect=yes|no: the credential must (proxy path) or must not (direct path) have arrived, else 403. hey cannot
  # read response headers, so this checks every one of its responses (hey.mjs).
  map "$arg_expect:$bench_auth" $bench_mismatch { default 0; "yes:no" 1; "no:yes" 1; }
  server {
    listen 127.0.0.1:${port} ssl;${extraPort ? `\n    listen 127.0.0.1:${extraPort} ssl;` : ''}
    ssl_certificate ${q(join(certs, 'upstream.crt'))};
    ssl_certificate_key ${q(join(certs, 'upstream.key'))};
    root ${q(join(dir, 'www'))};
    add_header x-bench-auth $bench_auth always;
    if ($bench_mismatch) { return 403; }
    location = /small { return 200 "${'x'.repeat(64)}"; }
    location = /download { try_files /download =404; }
    # Read the whole body before answering, as upstream-server.mjs does: 'return' alone would answer first and
    # discard the body afterwards. 'mirror' reads it (into memory) before the content phase; the static module
    # then refuses the POST to the file www/upload with 405, which error_page turns into a 200 from /upload-ok.
    location = /upload {
      client_max_body_size 4m;
      client_body_buffer_size 2m;
      mirror /_void;
      error_page 405 =200 /upload-ok;
    }
    location = /_void { internal; return 204; }
    location = /upload-early { client_max_body_size 4m; return 200 "ok"; }
    location = /upload-ok { internal; try_files /upload-ok =404; }
    location = /_stats { stub_status; }
  }
}
`;
}

/**
 * Start nginx in the foreground on a free port, serving from `dir` (created). Resolves once it accepts
 * connections. `pid` is the worker's (the process that does the work); `child` is the master. With `extraPort`
 * the same server also listens there (443 for hey, see setup.mjs).
 * @param {{ bin: string, dir: string, expectAuth: string, extraPort?: number }} o
 */
export async function startNginx(o) {
  await mkdir(join(o.dir, 'tmp'), { recursive: true });
  await mkdir(join(o.dir, 'www'), { recursive: true });
  await writeFile(join(o.dir, 'www/download'), Buffer.alloc(1 << 20, 'y'));
  await writeFile(join(o.dir, 'www/upload'), '');
  await writeFile(join(o.dir, 'www/upload-ok'), 'ok');
  const port = await freePort();
  const conf = join(o.dir, 'nginx.conf');
  await writeFile(conf, config(o.dir, port, o.expectAuth, o.extraPort), { mode: 0o600 });
  const child = spawn(o.bin, ['-p', o.dir, '-c', conf, '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    if (await canConnect(port)) {
      const workers = childPids(child.pid);
      return { kind: 'nginx', child, pid: workers[0] ?? child.pid, port };
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`nginx did not start: ${stderr.trim() || 'timed out'}`);
}

/**
 * Accepted connections from stub_status ("server accepts handled requests\n A H R").
 * @param {string} text
 */
export function parseStubStatus(text) {
  const m = /accepts handled requests\s+(\d+)/.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}
