/**
 * Build the CLI once per test run, into a private directory laid out like the installed package, and hand its
 * location to every test file (`inject('cliBuildRoot')`). Subprocess tests then never race a rebuild of the
 * repository's own `dist/`, and no file pays for a build of its own.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

const ROOT = join(import.meta.dirname, '..');

declare module 'vitest' {
  export interface ProvidedContext {
    cliBuildRoot: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await mkdtemp(join(tmpdir(), 'clef-proxy-test-build-'));
  const output = await new Promise<string>((resolve) => {
    // tsc's emitter without the type check (`npm run typecheck` does that) or declarations: same JavaScript, faster.
    const args = [
      '-p',
      'tsconfig.build.json',
      '--noCheck',
      '--declaration',
      'false',
      '--outDir',
      join(root, 'dist'),
    ];
    execFile(join(ROOT, 'node_modules/typescript/bin/tsc'), args, { cwd: ROOT }, (_err, stdout, stderr) =>
      resolve(stdout + stderr),
    );
  });
  await stat(join(root, 'dist/cli/main.js')).catch(() => {
    throw new Error(`the test build produced no dist/cli/main.js:\n${output}`);
  });
  await mkdir(join(root, 'bin'));
  await copyFile(join(ROOT, 'bin/clef-proxy'), join(root, 'bin/clef-proxy'));
  await copyFile(join(ROOT, 'package.json'), join(root, 'package.json'));
  await symlink(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  project.provide('cliBuildRoot', root);
  return async () => {
    await rm(root, { recursive: true, force: true });
  };
}
