/**
 * The package version for `clef_proxy_build_info`. Read the way `cli/program.ts` reads it (two levels below the
 * package root, in the unbundled `dist/` and in the bundled `dist/cli/main.js` alike; the SEA build inlines it).
 */
import { readFileSync } from 'node:fs';

let version: string | undefined;

/** This package's version, or `unknown` when package.json cannot be read. */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      version = (
        JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
          version: string;
        }
      ).version;
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
