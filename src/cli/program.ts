/**
 * The command tree (SPEC §1) as a function from argv to an exit code. Every failure is a {@link StartupError}
 * printed as one `clef-proxy: <what>: <why>` line (plus detail lines); `main.ts` turns the code into the exit.
 */
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { type Env, readEnv } from '../config/env.js';
import { ExitCode, type ExitCodeValue, StartupError } from '../exit-codes.js';
import type { CliIo } from './io.js';

// The commands are loaded when they run, not at start-up: `--version` and `--help` then never evaluate the
// X.509, logging and schema libraries (issue: fast start — the supervisor spawns this often).
const loadCa = () => import('./ca.js');
const loadServe = () => import('./serve.js');
const loadExplain = () => import('./explain.js');
const loadCaEnv = () => import('./ca-env.js');

/** OS bundles `ca env` merges: `CLEF_PROXY_SYSTEM_BUNDLE` alone when set, else the platform list. */
async function osBundlePaths(env: Env): Promise<readonly string[]> {
  if (env.systemBundle !== undefined) return [env.systemBundle];
  return (await import('../tls/trust-bundle.js')).OS_BUNDLE_PATHS;
}

/** The package version, read once from package.json (bare semver, SPEC §1). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

class UsageError extends Error {}

async function caDirFor(configPath: string | undefined, env: Env): Promise<string> {
  const [{ loadConfigFile }, { resolveCaDir }] = await Promise.all([
    import('../config/load.js'),
    import('../tls/ca-dir.js'),
  ]);
  const config = configPath === undefined ? undefined : await loadConfigFile(configPath);
  return resolveCaDir(config?.caDir, env);
}

/**
 * Run the CLI with `argv` (without node and script) and resolve to the exit code. Never exits the process itself,
 * so tests can call it in-process.
 */
export async function run(argv: readonly string[], io: CliIo, env: Env = readEnv()): Promise<ExitCodeValue> {
  let code: ExitCodeValue = ExitCode.Ok;
  const parser = yargs([...argv])
    .scriptName('clef-proxy')
    .usage('$0 <command> [options]\n\nCredential-injection forward proxy.')
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .strict()
    .exitProcess(false)
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    })
    .command(
      'serve',
      'Run the proxy daemon',
      (y) =>
        y
          .option('config', { type: 'string', demandOption: true, describe: 'Path to the JSON config file' })
          .option('lambda-loopback-only', {
            type: 'boolean',
            default: false,
            describe: 'Under AWS Lambda: waive workload auth (listen must be loopback)',
          }),
      async (args) => {
        const { runServe } = await loadServe();
        code = await runServe(
          { configPath: args.config, lambdaLoopbackOnly: args['lambda-loopback-only'] },
          io,
          env,
        );
      },
    )
    .command(
      'explain <url>',
      'Show what the proxy would do with a request (nothing is sent upstream)',
      (y) =>
        y
          .positional('url', { type: 'string', demandOption: true, describe: 'https:// or http:// URL' })
          .option('method', { type: 'string', default: 'GET', describe: 'Request method' })
          .option('identity', {
            type: 'string',
            describe: 'Workload identity (Proxy-Authorization username)',
          })
          .option('header', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: "Request header 'Name: value' (repeatable), e.g. 'X-Clef-Service: github'",
          })
          .option('config', { type: 'string', describe: 'Config file, as for serve' })
          .option('json', { type: 'boolean', default: false, describe: 'Machine-readable output' }),
      async (args) => {
        const { runExplain } = await loadExplain();
        code = await runExplain(
          {
            url: args.url,
            method: args.method,
            identity: args.identity,
            headers: args.header,
            configPath: args.config,
            json: args.json,
          },
          io,
          env,
        );
      },
    )
    .command('ca', 'Manage the proxy CA', (y) =>
      y
        .option('config', { type: 'string', describe: 'Config file whose ca_dir to use' })
        .command('path', 'Print the CA directory in use', {}, async (args) => {
          (await loadCa()).caPath(await caDirFor(args.config as string | undefined, env), io);
        })
        .command(
          'export',
          'Write the CA certificate (never the key)',
          (e) =>
            e
              .option('format', {
                choices: ['pem', 'der', 'der-base64'] as const,
                default: 'pem' as const,
                describe: 'Output format',
              })
              .option('out', { type: 'string', describe: 'Write to this file instead of stdout' }),
          async (args) => {
            const caDir = await caDirFor(args.config, env);
            const { caExport } = await loadCa();
            await caExport(
              { caDir, format: args.format, ...(args.out === undefined ? {} : { out: args.out }) },
              io,
            );
          },
        )
        .command(
          'regenerate',
          'Replace the CA atomically (workloads must trust the new one)',
          (r) =>
            r.option('confirm', {
              type: 'boolean',
              default: false,
              describe: 'Required: confirms the replacement',
            }),
          async (args) => {
            const { caRegenerate } = await loadCa();
            await caRegenerate(
              {
                caDir: await caDirFor(args.config, env),
                confirm: args.confirm,
                osBundlePaths: await osBundlePaths(env),
              },
              io,
            );
          },
        )
        .command(
          'env',
          'Write a trust bundle (system roots + the CA) and print the variables clients need',
          (e) =>
            e
              .option('bundle', {
                type: 'string',
                describe: 'Write the bundle here (default: bundle.pem beside the CA)',
              })
              .option('shell', {
                choices: ['sh', 'fish', 'powershell', 'dotenv'] as const,
                default: 'sh' as const,
                describe: 'Syntax of the printed lines (sh suits bash and zsh)',
              })
              .option('proxy-url', {
                type: 'string',
                describe:
                  'Also print HTTPS_PROXY/HTTP_PROXY for this URL (password read from CLEF_PROXY_TOKEN)',
              }),
          async (args) => {
            const caDir = await caDirFor(args.config, env);
            const { caEnv } = await loadCaEnv();
            await caEnv(
              {
                caDir,
                shell: args.shell,
                osBundlePaths: await osBundlePaths(env),
                ...(args.bundle === undefined ? {} : { bundle: args.bundle }),
                ...(args['proxy-url'] === undefined ? {} : { proxyUrl: args['proxy-url'] }),
              },
              io,
            );
          },
        )
        .demandCommand(1, 'name a ca command: path, export, regenerate or env'),
    )
    .demandCommand(1, 'name a command: serve, explain or ca');

  try {
    await parser.parseAsync();
  } catch (err) {
    return report(err, io);
  }
  return code;
}

function report(err: unknown, io: CliIo): ExitCodeValue {
  if (err instanceof StartupError) {
    io.stderr.write(`clef-proxy: ${err.message}\n`);
    for (const line of err.details) io.stderr.write(`  ${line}\n`);
    return err.code;
  }
  if (err instanceof UsageError || (err instanceof Error && err.name === 'YError')) {
    io.stderr.write(`clef-proxy: usage: ${err.message} (see --help)\n`);
    return ExitCode.InvalidConfig;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`clef-proxy: unexpected error: ${message}\n`);
  return ExitCode.Generic;
}
