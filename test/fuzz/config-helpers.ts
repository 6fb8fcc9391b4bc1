/**
 * Shared fixtures for the config fuzz tests (config.fuzz.test.ts, config-echo.fuzz.test.ts): SPEC §3's example config
 * and a copy-and-edit helper, so both suites mutate the same baseline.
 */

/** SPEC §3's example, valid as written (ca_dir and upstream_ca_file are only paths, never read here). */
export function validConfig(proxyUrl = 'http://user:pass@proxy.corp:3128'): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    ca_dir: '/var/lib/clef/proxy/ca',
    agent: {
      url: 'http://127.0.0.1:7777',
      ready_timeout_ms: 30000,
      services_refresh_ms: 10000,
      secret_ttl_ms: 5000,
    },
    passthrough_hosts: ['registry.npmjs.org', '10.0.0.5:8443'],
    audit: { sink: 'stdout' },
    upstream_proxy: { url: proxyUrl, no_proxy: 'internal.corp,.svc,10.0.0.0/8' },
    upstream_ca_file: '/etc/ssl/corp-root.pem',
    drain_timeout_ms: 10000,
    limits: {
      max_connections: 4096,
      max_header_bytes: 16384,
      header_timeout_ms: 10000,
      leaf_cache_size: 1024,
    },
    log_level: 'info',
  };
}

/** Set (or delete, with `undefined`) a value at `path` inside a deep copy of `root`, creating objects on the way. */
export function setAt(
  root: Record<string, unknown>,
  path: readonly string[],
  value: unknown,
): Record<string, unknown> {
  const copy = structuredClone(root);
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1] ?? 'listen';
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}
