/**
 * The human form of `clef-proxy explain` (docs/explain.md): one short section per stage, in the order the proxy
 * runs them. Names only: a credential shows its header or parameter and its secret names, never a value.
 */
import { ERROR_TABLE } from '../errors.js';
import type { CandidateExplanation, Explanation } from '../pipeline/explain.js';

const TARGET_REASONS: Readonly<Record<string, string>> = {
  service_host: 'a service names this host',
  service_wins_tie: 'a service and a passthrough entry name it equally; the service wins',
  passthrough_host: 'a passthrough host (no service names it)',
  more_specific_passthrough: 'a passthrough entry is more specific than any service entry',
  not_listed: 'neither a service host nor a passthrough host',
  proxy_auth_required: 'the workload would not authenticate',
  https_required: 'plain http:// to a host a service names',
  host_not_allowed: 'not a passthrough host',
};

const CANDIDATE_REASONS: Readonly<Record<string, string>> = {
  x_clef_service: 'named by X-Clef-Service',
  only_candidate: 'the only candidate',
  most_specific_host: 'the most specific host entry',
  longest_path_prefix: 'the longest path_prefix',
  path_prefix_mismatch: 'path_prefix does not match the path',
  x_clef_service_named_another: 'X-Clef-Service names another service',
  less_specific_host: 'a less specific host entry',
  shorter_path_prefix: 'a shorter path_prefix',
  ambiguous: 'ties with another candidate (ambiguous)',
};

function identityLine(e: Explanation): string {
  const { name, mode, admitted } = e.identity;
  const who = name === null ? 'anonymous' : name;
  const how =
    mode === 'agent'
      ? 'per-identity token from the agent'
      : mode === 'shared_token'
        ? 'shared CLEF_PROXY_TOKEN (the agent serves no identities)'
        : 'workload auth waived (AWS Lambda)';
  return `identity:   ${who} — ${how}${admitted ? '' : ' → refused (407)'}`;
}

function candidateLine(c: CandidateExplanation): string {
  const mark = c.outcome === 'chosen' ? '✔' : c.outcome === 'tied' ? '=' : '✘';
  const ids = c.identities === null ? '' : `, identities ${c.identities.join(' ')}`;
  const why = CANDIDATE_REASONS[c.reason] ?? c.reason;
  return `  ${mark} ${c.service} (${c.host_match} ${c.host_entry}, path_prefix ${c.path_prefix}${ids}): ${c.outcome} — ${why}`;
}

/** Render an explanation as a few readable lines, newline-terminated. */
export function renderExplanation(e: Explanation): string {
  const r = e.request;
  const lines = [`request:    ${r.method} ${r.scheme}://${r.host}:${r.port}${r.path}`, identityLine(e)];
  const reason = TARGET_REASONS[e.target.reason] ?? e.target.reason;
  lines.push(`target:     ${e.target.decision} — ${reason}`);
  if (e.candidates.length > 0) {
    lines.push('candidates:');
    for (const c of e.candidates) lines.push(candidateLine(c));
  }
  if (e.service !== null) lines.push(`service:    ${e.service}`);
  if (e.credential !== null) {
    const c = e.credential;
    const where =
      c.header !== null ? `header ${c.header}` : c.query !== null ? `query parameter ${c.query}` : '—';
    const format = c.format === null ? '' : ` = ${c.format}`;
    lines.push(`credential: ${c.type}, ${where}${format} (secrets: ${c.secrets.join(', ') || 'none'})`);
  }
  if (e.upstream !== null) {
    const u = e.upstream;
    const route =
      u.route === 'proxy'
        ? `via ${u.proxy}`
        : u.no_proxy_entry !== null
          ? `direct (NO_PROXY entry "${u.no_proxy_entry}")`
          : 'direct (no upstream proxy configured)';
    lines.push(`upstream:   ${route}`);
  }
  const res = e.result;
  lines.push(
    res.forwarded
      ? `result:     forwarded (${res.decision})`
      : `result:     refused ${res.status} ${res.code} — ${res.code === null ? '' : ERROR_TABLE[res.code].message}`,
  );
  if (res.decision === 'inject')
    lines.push(
      'note:       secret values are not fetched: a missing or invalid secret would still be refused (503/502).',
    );
  return `${lines.join('\n')}\n`;
}
