/**
 * Node 20 cannot run TypeScript, so tests that need the audit sinks in a child process transpile them into a temp
 * dir whose node_modules points at the project's (for `pino`).
 */
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../../..');

export interface ChildModules {
  readonly dir: string;
  /** file: URL of `<name>.js` in the temp dir. */
  url(name: string): string;
  remove(): Promise<void>;
}

/** Transpile `src/audit/<name>.ts` for each name (type-only imports vanish, so the list stays short). */
export async function buildChildModules(names: readonly string[]): Promise<ChildModules> {
  const dir = await mkdtemp(join(tmpdir(), 'clef-audit-child-'));
  for (const name of names) {
    const source = await readFile(join(ROOT, 'src/audit', `${name}.ts`), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    await writeFile(join(dir, `${name}.js`), outputText);
  }
  await writeFile(join(dir, 'package.json'), '{"type":"module"}');
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return {
    dir,
    url: (name) => pathToFileURL(join(dir, `${name}.js`)).href,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
