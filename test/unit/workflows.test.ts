/**
 * The GitHub workflows cannot run here, so their essentials are checked as data: they parse, every job has a
 * runner and steps, every action is pinned to a version, expressions name what exists, run blocks are valid
 * bash, and release/ci do what docs/distribution.md says they do.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PLATFORM_TARGETS } from '../../src/binary-path.js';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  shell?: string;
}
interface Job {
  'runs-on'?: unknown;
  needs?: string | string[];
  steps?: Step[];
  strategy?: { matrix?: Record<string, unknown> & { include?: Record<string, unknown>[] } };
  permissions?: Record<string, string>;
  environment?: string;
}
interface Workflow {
  name?: string;
  on?: Record<string, unknown>;
  permissions?: Record<string, string> | string;
  jobs?: Record<string, Job>;
}

const DIR = join(import.meta.dirname, '../../.github/workflows');
const FILES = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
const text = (file: string) => readFileSync(join(DIR, file), 'utf8');
const load = (file: string) => parse(text(file)) as Workflow;
/** `owner/repo[/path]@vN[.N[.N]]` or a full commit SHA: never a branch such as main or master. */
/** A GitHub expression `${{ body }}`, spelt without a `${` literal (biome reads one as a template mistake). */
const expr = (body: string) => `\${{ ${body} }}`;
const PINNED = /^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/;

function jobsOf(wf: Workflow): [string, Job][] {
  return Object.entries(wf.jobs ?? {});
}
function runText(job: Job): string {
  return (job.steps ?? []).map((s) => s.run ?? '').join('\n');
}
function usesOf(job: Job): string[] {
  return (job.steps ?? []).flatMap((s) => (s.uses === undefined ? [] : [s.uses.split('@')[0]!]));
}

describe.each(FILES.map((f) => [f]))('%s', (file) => {
  const wf = load(file);

  it('has a name, triggers and jobs with a runner and steps', () => {
    expect(typeof wf.name).toBe('string');
    expect(Object.keys(wf.on ?? {}).length).toBeGreaterThan(0);
    expect(jobsOf(wf).length).toBeGreaterThan(0);
    for (const [, job] of jobsOf(wf)) {
      expect(job['runs-on']).toBeTruthy();
      expect(job.steps?.length).toBeGreaterThan(0);
      for (const step of job.steps ?? [])
        expect([step.uses, step.run].filter((x) => x !== undefined)).toHaveLength(1);
    }
  });

  it('pins every action to a version tag or commit', () => {
    const uses = jobsOf(wf).flatMap(([, job]) => (job.steps ?? []).flatMap((s) => (s.uses ? [s.uses] : [])));
    expect(uses.length).toBeGreaterThan(0);
    for (const u of uses) expect(u).toMatch(PINNED);
  });

  it('needs only jobs that exist, and matrix expressions name matrix keys', () => {
    const names = new Set(Object.keys(wf.jobs ?? {}));
    for (const [name, job] of jobsOf(wf)) {
      for (const need of [job.needs ?? []].flat()) expect(names, `${name} needs ${need}`).toContain(need);
      const matrix = job.strategy?.matrix ?? {};
      const keys = new Set([
        ...Object.keys(matrix).filter((k) => k !== 'include' && k !== 'exclude'),
        ...(matrix.include ?? []).flatMap((row) => Object.keys(row)),
      ]);
      for (const [, key] of JSON.stringify(job).matchAll(/\bmatrix\.([\w-]+)/g)) {
        expect(keys, `${name} uses matrix.${key}`).toContain(key);
      }
    }
  });

  it('closes every expression and holds no npm token', () => {
    const source = text(file);
    expect(source.split(expr('').slice(0, 3)).length).toBe(source.split('}}').length);
    expect(source).not.toMatch(/NPM_TOKEN|NODE_AUTH_TOKEN|secrets\.npm/i);
    expect(wf.permissions).not.toBe('write-all');
  });

  it.skipIf(process.platform === 'win32')('has run blocks that are valid bash', () => {
    for (const [name, job] of jobsOf(wf)) {
      for (const step of job.steps ?? []) {
        if (step.run === undefined) continue;
        const script = step.run.replace(/\$\{\{[^}]*\}\}/g, 'EXPR');
        const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
        expect(r.status, `${name}: ${step.name ?? step.run}\n${r.stderr}`).toBe(0);
      }
    }
  });
});

describe('release.yml', () => {
  const wf = load('release.yml');
  const jobs = wf.jobs ?? {};

  it('runs on v* tags, and chains test → build → release → publish', () => {
    expect((wf.on?.push as { tags?: string[] } | undefined)?.tags).toEqual(['v*']);
    expect(Object.keys(jobs)).toEqual(['test', 'build', 'release', 'publish']);
    expect([jobs.build?.needs, jobs.release?.needs, jobs.publish?.needs]).toEqual([
      'test',
      'build',
      'release',
    ]);
    expect(wf.permissions).toEqual({ contents: 'read' });
  });

  it('tests with npm ci and npm test, after checking the tag against package.json', () => {
    const run = runText(jobs.test!);
    expect(run).toMatch(/^npm ci$/m);
    expect(run).toMatch(/^npm test$/m);
    expect(run).toContain('GITHUB_REF_NAME');
  });

  it('builds each platform on its own runner, checksums, smoke-tests and uploads', () => {
    const include = jobs.build?.strategy?.matrix?.include ?? [];
    expect(include.map((r) => [r.os, r.target])).toEqual([
      ['ubuntu-latest', 'linux-x64'],
      ['ubuntu-24.04-arm', 'linux-arm64'],
      ['macos-latest', 'darwin-arm64'],
      ['macos-13', 'darwin-x64'],
      ['windows-latest', 'win32-x64'],
    ]);
    expect(include.map((r) => r.target).sort()).toEqual([...PLATFORM_TARGETS].sort());
    const run = runText(jobs.build!);
    expect(run).toMatch(/^npm ci$/m);
    expect(run).toMatch(/^npm run build:sea$/m);
    expect(run).toContain('.sha256');
    expect(run).toContain('--version');
    expect(usesOf(jobs.build!)).toContain('actions/upload-artifact');
  });

  it('creates the GitHub release with the binaries and their checksums', () => {
    expect(jobs.release?.permissions).toEqual({ contents: 'write' });
    expect(usesOf(jobs.release!)).toContain('actions/download-artifact');
    const run = runText(jobs.release!);
    expect(run).toContain('sha256sum --check');
    expect(run).toMatch(/gh release create "\$\{GITHUB_REF_NAME\}" artifacts\/\*/);
  });

  it('publishes through trusted publishing: environment prod, id-token write, provenance, every platform', () => {
    const publish = jobs.publish!;
    expect(publish.environment).toBe('prod');
    expect(publish.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    const run = runText(publish);
    expect(run).toContain('node scripts/stamp-platform.mjs');
    for (const target of PLATFORM_TARGETS) expect(run).toContain(target);
    expect(run.match(/npm publish --provenance --access public/g)).toHaveLength(2);
    expect(run).toContain(`npm pkg set "optionalDependencies.@clef-sh/proxy-\${target}=\${version}"`);
    // The main package goes last, once the platform packages it points at exist.
    expect(run.lastIndexOf('npm publish')).toBeGreaterThan(run.indexOf('optionalDependencies'));
  });
});

describe('ci.yml', () => {
  const wf = load('ci.yml');

  it('runs npm ci and npm test on Linux, macOS and Windows with Node 20, 22 and 24', () => {
    const [, job] = jobsOf(wf).find(([, j]) => /^npm test$/m.test(runText(j))) ?? [];
    expect(job).toBeDefined();
    const matrix = job!.strategy?.matrix ?? {};
    expect(matrix.os).toEqual(['ubuntu-latest', 'macos-latest', 'windows-latest']);
    expect((matrix.node as unknown[]).map(String)).toEqual(['20', '22', '24']);
    expect(job!['runs-on']).toBe(expr('matrix.os'));
    const setup = job!.steps?.find((s) => s.uses?.startsWith('actions/setup-node@'));
    expect(setup?.with?.['node-version']).toBe(expr('matrix.node'));
    expect(runText(job!)).toMatch(/^npm ci$/m);
  });
});
