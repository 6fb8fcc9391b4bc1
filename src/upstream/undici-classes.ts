/**
 * undici's `Client` and `Pool`, imported from their own modules rather than the package index. The index also
 * loads fetch, WebSocket, the caches, the mock agents and more that the proxy never calls: about 1 MB of bundled
 * source and 5–6 MiB of resident memory at start (docs/performance.md, "Memory: loading less"). undici has no
 * `exports` map, so Node and the bundler resolve these paths as they are; `test/unit/upstream/undici-classes.test.ts`
 * checks that they are still the classes the index exports.
 */
import type * as Undici from 'undici';
import ClientClass from 'undici/lib/dispatcher/client.js';
import PoolClass from 'undici/lib/dispatcher/pool.js';

export const Client: typeof Undici.Client = ClientClass;
export const Pool: typeof Undici.Pool = PoolClass;
