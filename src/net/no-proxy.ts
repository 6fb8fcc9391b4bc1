/**
 * The `NO_PROXY` rule (SPEC §7): which upstream targets bypass the chained proxy. The list is parsed once into
 * a matcher, so the per-request check compiles nothing and parses no entries. Where curl and Go disagree, the
 * choice made here is written down in docs/configuration.md ("NO_PROXY").
 */
import { BlockList, isIP } from 'node:net';
import { normalizeHost, parsePort } from './host-port.js';

/** A parsed `NO_PROXY` list. */
export interface NoProxyMatcher {
  /**
   * True when a connection to `host:port` must bypass the upstream proxy. `host` is already normalised
   * (lower-case, no trailing dot, punycode; IPv6 without brackets), as `parseHostPort` returns it.
   */
  matches(host: string, port: number): boolean;
  /**
   * The entry (as written in the list) that makes `host:port` bypass the proxy, or undefined when none does: the
   * same rule as {@link matches}, for `clef-proxy explain`. Off the hot path: it walks the entries one by one.
   */
  matchingEntry(host: string, port: number): string | undefined;
  /** Entries that could not be parsed; they match nothing. Reported as config issues or startup warnings. */
  readonly invalid: readonly string[];
}

interface NameRule {
  readonly name: string;
  /** `.name`, so `xname` never matches `name`. */
  readonly suffix: string;
  readonly port: number | undefined;
}

/** IPv4 and IPv6 rules kept apart: Node's BlockList lets `::/0` match IPv4 addresses, which Go's rule does not. */
interface IpRules {
  readonly v4: BlockList;
  readonly v6: BlockList;
}

type Entry =
  | { readonly kind: 'all' }
  | { readonly kind: 'name'; readonly name: string; readonly port: number | undefined }
  | {
      readonly kind: 'ip';
      readonly family: 'ipv4' | 'ipv6';
      readonly addr: string;
      readonly prefix: number;
      readonly port: number | undefined;
    };

const SEPARATORS = /[\s,]+/;
const PREFIX_RE = /^[0-9]{1,3}$/;

/** Split `host:port` / `[v6]:port` / bare v6 into parts; undefined when the shape is wrong. */
function splitPort(text: string): { host: string; port: string | undefined } | undefined {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    return { host: text.slice(1, close), port: rest === '' ? undefined : rest.slice(1) };
  }
  const colon = text.indexOf(':');
  // Two or more colons without brackets: a bare IPv6 literal, which cannot carry a port.
  if (colon < 0 || text.indexOf(':', colon + 1) >= 0) return { host: text, port: undefined };
  return { host: text.slice(0, colon), port: text.slice(colon + 1) };
}

/** Parse one non-empty, lower-cased entry; undefined when it is not a valid entry. */
function parseEntry(raw: string): Entry | undefined {
  if (raw === '*') return { kind: 'all' };
  const slash = raw.indexOf('/');
  if (slash >= 0) {
    // CIDR: `addr/len`, no port (neither curl nor Go accept one there).
    const addr = raw.slice(0, slash);
    const len = raw.slice(slash + 1);
    const fam = isIP(addr);
    // isIP accepts a zone id (`fe80::%eth0`), which names an interface of this host only: refused.
    if (fam === 0 || addr.includes('%') || !PREFIX_RE.test(len)) return undefined;
    const prefix = Number(len);
    if (prefix > (fam === 4 ? 32 : 128)) return undefined;
    return { kind: 'ip', family: fam === 4 ? 'ipv4' : 'ipv6', addr, prefix, port: undefined };
  }
  const parts = splitPort(raw);
  if (!parts) return undefined;
  let port: number | undefined;
  if (parts.port !== undefined) {
    port = parsePort(parts.port);
    if (port === undefined) return undefined;
  }
  // `*.name` (Go) and `.name` (curl, Go) both mean "the name and its subdomains" here.
  let host = parts.host;
  const dotted = host.startsWith('*.') || host.startsWith('.');
  if (dotted) host = host.slice(host.indexOf('.') + 1);
  const norm = normalizeHost(host);
  if (!norm) return undefined;
  if (norm.kind === 'name') return { kind: 'name', name: norm.host, port };
  if (dotted) return undefined; // `.10.0.0.1` is neither a name suffix nor an address
  const family = norm.kind === 'ipv4' ? 'ipv4' : 'ipv6';
  return { kind: 'ip', family, addr: norm.host, prefix: family === 'ipv4' ? 32 : 128, port };
}

/** `parseEntry`, but never throwing, whatever the input. */
function safeParseEntry(raw: string): Entry | undefined {
  try {
    return parseEntry(raw);
  } catch {
    return undefined;
  }
}

function newRules(): IpRules {
  return { v4: new BlockList(), v6: new BlockList() };
}

function ipMatch(rules: IpRules | undefined, host: string, family: number): boolean {
  if (!rules) return false;
  // An IPv4-mapped IPv6 host (`::ffff:10.0.0.1`) is checked against IPv4 rules too; BlockList maps it.
  if (family === 4) return rules.v4.check(host, 'ipv4');
  return rules.v4.check(host, 'ipv6') || rules.v6.check(host, 'ipv6');
}

/**
 * Parse a `NO_PROXY` list once (SPEC §7): comma/space separated; `*` anywhere means all; `name`, `.name` and
 * `*.name` match the name and its subdomains; an IP literal matches itself (canonical comparison); a CIDR
 * matches its range (names never match a CIDR: no DNS); `entry:port` or `[v6]:port` only that port.
 * Case-insensitive, one trailing dot ignored, empty entries ignored, loopback never bypassed implicitly.
 */
export function parseNoProxy(list: string): NoProxyMatcher {
  // Every valid entry with its text, in list order, for matchingEntry(); matches() never reads it.
  const entries: Array<{ readonly token: string; readonly entry: Entry }> = [];
  const names: NameRule[] = [];
  const anyPort = newRules();
  const byPort = new Map<number, IpRules>();
  const invalid: string[] = [];
  let all = false;
  for (const token of list.split(SEPARATORS)) {
    if (token === '') continue;
    const entry = safeParseEntry(token.toLowerCase());
    if (entry) entries.push({ token, entry });
    if (!entry) {
      invalid.push(token);
    } else if (entry.kind === 'all') {
      all = true;
    } else if (entry.kind === 'name') {
      names.push({ name: entry.name, suffix: `.${entry.name}`, port: entry.port });
    } else {
      let rules = anyPort;
      if (entry.port !== undefined) {
        rules = byPort.get(entry.port) ?? newRules();
        byPort.set(entry.port, rules);
      }
      const target = entry.family === 'ipv4' ? rules.v4 : rules.v6;
      try {
        target.addSubnet(entry.addr, entry.prefix, entry.family);
      } catch {
        invalid.push(token); // e.g. a zone id (`fe80::%eth0/64`), which BlockList refuses
      }
    }
  }
  Object.freeze(invalid);
  const matcher = {
    invalid,
    matches(host: string, port: number): boolean {
      if (all) return true;
      const family = isIP(host);
      if (family !== 0) return ipMatch(anyPort, host, family) || ipMatch(byPort.get(port), host, family);
      for (const rule of names) {
        if (rule.port !== undefined && rule.port !== port) continue;
        if (host === rule.name || host.endsWith(rule.suffix)) return true;
      }
      return false;
    },
    matchingEntry(host: string, port: number): string | undefined {
      if (!matcher.matches(host, port)) return undefined;
      // One single-entry matcher per candidate: the rule is matches()'s own, so the two can never disagree.
      for (const { token, entry } of entries) {
        if (entry.kind === 'all' || parseNoProxy(token).matches(host, port)) return token;
      }
      return undefined;
    },
  };
  return Object.freeze(matcher);
}
