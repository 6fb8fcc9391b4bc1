/**
 * Node 20 cannot run TypeScript, so tests that need the audit sinks in a child process transpile src/ into a temp
 * dir whose node_modules points at the project's (for `pino`). The whole tree, laid out as in src/: the sinks import
 * beyond src/audit (the receivers dial through `upstream/dial.ts`).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../../..');

export interface ChildModules {
  readonly dir: string;
  /** file: URL of `<name>.js` in the temp dir. */
  url(name: string): string;
  remove(): Promise<void>;
}

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Transpile src/ (`names` are the audit modules the caller will load: each must exist). */
export async function buildChildModules(names: readonly string[]): Promise<ChildModules> {
  const dir = await mkdtemp(join(tmpdir(), 'clef-audit-child-'));
  const src = join(ROOT, 'src');
  const files = await sources(src);
  for (const name of names) {
    if (!files.includes(join(src, 'audit', `${name}.ts`))) throw new Error(`no src/audit/${name}.ts`);
  }
  for (const file of files) {
    const source = await readFile(file, 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    const out = join(dir, relative(src, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, outputText);
  }
  await writeFile(join(dir, 'package.json'), '{"type":"module"}');
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return {
    dir,
    url: (name) => pathToFileURL(join(dir, 'audit', `${name}.js`)).href,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
