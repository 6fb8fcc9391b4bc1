// Types for the two undici modules that src/upstream/undici-classes.ts imports by path. They are the very classes
// the package's index exports (a unit test checks the identity), so they take the package's own types.
declare module 'undici/lib/dispatcher/client.js' {
  import type { Client } from 'undici';

  const ClientClass: typeof Client;
  export default ClientClass;
}

declare module 'undici/lib/dispatcher/pool.js' {
  import type { Pool } from 'undici';

  const PoolClass: typeof Pool;
  export default PoolClass;
}
