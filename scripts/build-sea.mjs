#!/usr/bin/env node
/**
 * Bundle the CLI with esbuild, and turn the bundle into a single-executable application (SEA) for this platform.
 *
 *   node scripts/build-sea.mjs --cli-bundle   one ESM file over dist/cli/main.js (part of `npm run build`)
 *   node scripts/build-sea.mjs [--out <file>] bin/clef-proxy-<platform>-<arch>[.exe] (or <file>), smoke-tested
 *
 * Both bundles share one set of esbuild options, which is why they live in one script. Exit codes: 0 built and
 * smoke-tested, 1 failed, 3 this Node binary cannot host a SEA (the reason is printed; tests skip on it).
 * Node's SEA steps: https://nodejs.org/docs/latest-v20.x/api/single-executable-applications.html
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
/** Node's SEA fuse; the build flips it in the copy by injecting the blob. */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const EXIT_UNSUPPORTED = 3;

/** The options both bundles share: everything inlined, so startup loads one file instead of ~400 modules. */
function baseOptions(format, outfile) {
  return {
    entryPoints: [join(ROOT, 'src/cli/main.ts')],
    outfile,
    format,
    bundle: true,
    platform: 'node',
    target: 'node20',
    tsconfig: join(ROOT, 'tsconfig.json'),
    logLevel: 'warning',
  };
}

const NOT_LATIN1 = /[^\u0000-\u00ff]/u;

/**
 * V8 holds a script's source for as long as the script lives: one byte per character when every character is
 * Latin-1, two bytes for all of it when one character is not (2.2 MB of bundle, 2.2 MiB more resident). esbuild's
 * ASCII charset escapes strings and identifiers but keeps the comments it keeps as written, so what is left above
 * U+00FF on a comment line is escaped here. Anywhere else (a raw template, a regular expression) an escape could
 * change the meaning, so the build stops and names the line.
 */
function keepSourceOneByte(file) {
  const text = readFileSync(file, 'utf8');
  if (!NOT_LATIN1.test(text)) return;
  const lines = text.split('\n').map((line, i) => {
    if (!NOT_LATIN1.test(line)) return line;
    if (!/^\s*(\/\/|\/\*|\*)/.test(line)) {
      throw new Error(
        `${file}:${i + 1}: a character above U+00FF outside a comment would double the bundle in memory`,
      );
    }
    return line.replace(new RegExp(NOT_LATIN1.source, 'gu'), (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
  });
  writeFileSync(file, lines.join('\n'));
}

/**
 * The npm bundle replaces tsc's dist/cli/main.js, so bin/clef-proxy stays as it is, and a later plain `tsc` run
 * puts the unbundled entry back (never a stale bundle). It sits where tsc's file sat, so program.ts still finds
 * ../../package.json. CommonJS dependencies (pino, yargs' helpers) call require(), which ESM lacks: the banner
 * gives them one.
 */
async function bundleCliEsm() {
  await build({
    ...baseOptions('esm', join(ROOT, 'dist/cli/main.js')),
    allowOverwrite: true,
    banner: {
      js: "import { createRequire as __clefCreateRequire } from 'node:module';\nconst require = __clefCreateRequire(import.meta.url);",
    },
  });
  keepSourceOneByte(join(ROOT, 'dist/cli/main.js'));
}

/**
 * A SEA runs CommonJS and can read no file beside itself, so `import.meta.url` becomes the executable's URL and
 * every `readFileSync(new URL('…package.json', import.meta.url), 'utf8')` (program.ts reads the version so) is
 * replaced by the package's name and version as a string. The smoke test's `--version` proves it took.
 */
async function bundleCliCjs(outfile) {
  const inlinePackageJson = {
    name: 'inline-package-json',
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        const text = JSON.stringify(JSON.stringify({ name: PKG.name, version: PKG.version }));
        const contents = source.replace(
          /readFileSync\(\s*new URL\(\s*'(?:\.\.\/)+package\.json',\s*import\.meta\.url\s*\),\s*'utf8'\s*\)/g,
          () => text,
        );
        return { contents, loader: 'ts' };
      });
    },
  };
  await build({
    ...baseOptions('cjs', outfile),
    plugins: [inlinePackageJson],
    define: { 'import.meta.url': '__clefImportMetaUrl' },
    banner: { js: "var __clefImportMetaUrl = require('node:url').pathToFileURL(process.execPath).href;" },
  });
  keepSourceOneByte(outfile);
}

/** First line of `stream` for which `pick` returns a value (or a rejection after `ms`, or when `child` exits). */
function firstLine(stream, child, ms, pick) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    const done = (fn, value) => {
      clearTimeout(timer);
      lines.close();
      child.off('exit', onExit);
      fn(value);
    };
    const onExit = (code) => done(reject, new Error(`exited with ${code} before the expected line`));
    const timer = setTimeout(() => done(reject, new Error(`no expected line within ${ms} ms`)), ms);
    child.once('exit', onExit);
    lines.on('line', (line) => {
      const value = pick(line);
      if (value !== undefined) done(resolve, value);
    });
  });
}

/** CONNECT through the proxy to `port`, TLS inside the tunnel, one GET; resolves to the raw response text. */
async function getThroughTunnel(proxyPort, port, token, ca) {
  const socket = connect(proxyPort, '127.0.0.1');
  socket.setTimeout(15_000, () => socket.destroy(new Error('tunnel request timed out')));
  const auth = Buffer.from(`smoke:${token}`).toString('base64');
  socket.write(
    `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`,
  );
  let head = '';
  while (!head.includes('\r\n\r\n')) head += (await once(socket, 'data'))[0].toString('latin1');
  if (!head.startsWith('HTTP/1.1 200')) throw new Error(`CONNECT answered ${head.split('\r\n')[0]}`);
  // No servername: the target is an IP literal, verified against the certificate's IP SAN.
  const tls = tlsConnect({ socket, ca, host: '127.0.0.1' });
  await once(tls, 'secureConnect');
  tls.write(`GET /smoke HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  const chunks = [];
  for await (const chunk of tls) chunks.push(chunk);
  socket.destroy();
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Run the built binary as the agent would: `--version`, `ca path`, and `serve` carrying one passthrough request
 * to a local HTTPS upstream, then SIGTERM (exit 0; Windows has no SIGTERM, its kill is not checked).
 */
async function smokeTest(binary, version) {
  const dir = mkdtempSync(join(tmpdir(), 'clef-sea-smoke-'));
  // Drop inherited proxy settings: an HTTPS_PROXY on the build machine would chain the tunnel through it.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(clef_proxy_|https?_proxy$|no_proxy$)/i.test(k)),
  );
  Object.assign(env, { CLEF_PROXY_CA_DIR: join(dir, 'ca'), CLEF_PROXY_TOKEN: 'smoke-token' });
  const cleanups = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    const v = execFileSync(binary, ['--version'], { env, encoding: 'utf8' });
    if (v !== `${version}\n`) throw new Error(`--version printed ${JSON.stringify(v)}, expected ${version}`);
    console.log(`smoke: --version ${v.trim()}`);
    const caPath = execFileSync(binary, ['ca', 'path'], { env, encoding: 'utf8' });
    if (caPath !== `${env.CLEF_PROXY_CA_DIR}\n`) throw new Error(`ca path printed ${JSON.stringify(caPath)}`);
    console.log(`smoke: ca path ${caPath.trim()}`);

    const certs = join(ROOT, 'fixtures/certs');
    const upstream = createServer(
      { cert: readFileSync(join(certs, 'upstream.crt')), key: readFileSync(join(certs, 'upstream.key')) },
      (_req, res) => res.end('sea-smoke-ok'),
    );
    cleanups.push(() => upstream.close());
    await once(upstream.listen(0, '127.0.0.1'), 'listening');
    const upstreamPort = upstream.address().port;

    writeFileSync(join(dir, 'agent.json'), JSON.stringify({ services: [], secrets: {} }));
    const agentArgs = [
      'fixtures/agent/agent.mjs',
      '--data',
      join(dir, 'agent.json'),
      '--token',
      'smoke-agent',
    ];
    const agent = spawn(process.execPath, agentArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => agent.kill());
    const agentUrl = await firstLine(agent.stdout, agent, 15_000, (l) => JSON.parse(l).url);

    const config = join(dir, 'config.json');
    const passthrough = [`127.0.0.1:${upstreamPort}`];
    writeFileSync(
      config,
      JSON.stringify({ listen: '127.0.0.1:0', agent: { url: agentUrl }, passthrough_hosts: passthrough }),
    );
    const serve = spawn(binary, ['serve', '--config', config], {
      env: { ...env, CLEF_PROXY_AGENT_TOKEN: 'smoke-agent' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    cleanups.push(() => serve.kill('SIGKILL'));
    const exited = once(serve, 'exit');
    const port = await firstLine(serve.stderr, serve, 30_000, (l) =>
      l.includes('"msg":"listening"') ? JSON.parse(l).port : undefined,
    );
    serve.stderr.resume();
    const response = await getThroughTunnel(
      port,
      upstreamPort,
      env.CLEF_PROXY_TOKEN,
      readFileSync(join(certs, 'ca.crt')),
    );
    const status = response.split('\r\n')[0];
    const body = response.slice(response.indexOf('\r\n\r\n') + 4);
    if (status !== 'HTTP/1.1 200 OK' || body !== 'sea-smoke-ok')
      throw new Error(`passthrough answered ${status}`);
    console.log(`smoke: serve passthrough ${status} ${body}`);
    serve.kill('SIGTERM');
    const [code] = await exited;
    if (process.platform !== 'win32' && code !== 0) throw new Error(`serve exited ${code} after SIGTERM`);
    console.log(`smoke: serve SIGTERM exit ${code}`);
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
  }
}

function run(command, args) {
  execFileSync(command, args, { stdio: 'inherit' });
}

async function buildSea(outArg) {
  const nodeBinary = readFileSync(process.execPath);
  if (!nodeBinary.includes(`${FUSE}:0`)) {
    console.error(
      `build-sea: unsupported: ${process.execPath} has no SEA fuse (${FUSE}); use an official Node build`,
    );
    process.exitCode = EXIT_UNSUPPORTED;
    return;
  }
  // Intermediate files go to a temp dir: under dist/ they would end up in the npm tarball.
  const work = mkdtempSync(join(tmpdir(), 'clef-sea-build-'));
  try {
    await buildSeaIn(work, outArg);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function buildSeaIn(work, outArg) {
  const { platform, arch } = process;
  const main = join(work, 'clef-proxy.cjs');
  const blob = join(work, 'sea-prep.blob');
  await bundleCliCjs(main);

  // useCodeCache: V8 compiles the bundle at build time, so the binary skips that at every start.
  const seaConfig = join(work, 'sea-config.json');
  writeFileSync(
    seaConfig,
    `${JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }, null, 2)}\n`,
  );
  run(process.execPath, ['--experimental-sea-config', seaConfig]);

  const defaultOut = join(ROOT, 'bin', `clef-proxy-${platform}-${arch}${platform === 'win32' ? '.exe' : ''}`);
  const out = outArg === undefined ? defaultOut : resolve(outArg);
  rmSync(out, { force: true });
  copyFileSync(process.execPath, out);
  chmodSync(out, 0o755);
  // macOS refuses to run a signed binary whose contents changed: drop the signature, inject, sign ad hoc.
  // Windows runs an unsigned (or invalidly signed) PE, so signtool is not needed there.
  if (platform === 'darwin') run('codesign', ['--remove-signature', out]);
  const { inject } = await import('postject');
  await inject(out, 'NODE_SEA_BLOB', readFileSync(blob), {
    sentinelFuse: FUSE,
    ...(platform === 'darwin' ? { machoSegmentName: 'NODE_SEA' } : {}),
  });
  if (platform === 'darwin') run('codesign', ['--sign', '-', out]);
  console.log(`build-sea: wrote ${out}`);

  await smokeTest(out, PKG.version);
  console.log('build-sea: smoke test passed');
}

const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === '--cli-bundle') await bundleCliEsm();
else if (argv.length === 0) await buildSea(undefined);
else if (argv.length === 2 && argv[0] === '--out') await buildSea(argv[1]);
else {
  console.error(
    `build-sea: unexpected arguments ${argv.join(' ')}; expected none, --out <file> or --cli-bundle`,
  );
  process.exitCode = 1;
}
