/**
 * Why a target and a request were decided as they were (issue 12 `explain`): the same decisions as
 * {@link decideTarget} and {@link matchService}, computed by them, with every candidate annotated with why it won or
 * lost. Not on the hot path: this walks every service once and allocates freely.
 */
import type { Service, ServiceIndex } from '../agent/source.js';
import { entryMatches, type HostEntry, specificity } from '../net/host-pattern.js';
import type { HostPort } from '../net/host-port.js';
import { type HostSet, type HostSetMatch, matchHostSet } from '../net/host-set.js';
import { decideTarget, type TargetDecision } from './decide-target.js';
import { type MatchArgs, type MatchResult, matchService, pathMatches } from './match-service.js';
import type { Step } from './types.js';

/** The most specific host entry of one service covering the target. */
export interface ServiceHostMatch {
  readonly service: Service;
  readonly entry: HostEntry;
  readonly match: 'exact' | 'wildcard';
  /** Higher is more specific: exact entries rank above every wildcard, wildcards by suffix length. */
  readonly specificity: number;
}

/** The target decision with the entries that drove it. */
export interface TargetExplanation {
  readonly decision: TargetDecision;
  /** Every service with an entry covering the target, most specific first (definition order within a rank). */
  readonly services: readonly ServiceHostMatch[];
  /** The most specific passthrough entry covering the target, if any. */
  readonly passthrough: HostSetMatch | undefined;
  /**
   * `service_host` (intercept: a service entry is the most specific), `service_wins_tie` (intercept: a passthrough
   * entry is as specific), `passthrough_host` (tunnel: no service entry), `more_specific_passthrough` (tunnel: the
   * passthrough entry outranks every service entry), `not_listed` (denied).
   */
  readonly reason:
    | 'service_host'
    | 'service_wins_tie'
    | 'passthrough_host'
    | 'more_specific_passthrough'
    | 'not_listed';
}

/** Every service with an entry covering `target`, each with its most specific such entry, most specific first. */
export function serviceHostMatches(index: ServiceIndex, target: HostPort): ServiceHostMatch[] {
  const out: ServiceHostMatch[] = [];
  for (const service of index.services) {
    let best: HostEntry | undefined;
    for (const entry of service.hosts) {
      if (entryMatches(entry, target) && (best === undefined || specificity(entry) > specificity(best)))
        best = entry;
    }
    if (best === undefined) continue;
    out.push({
      service,
      entry: best,
      match: best.kind === 'wildcard' ? 'wildcard' : 'exact',
      specificity: specificity(best),
    });
  }
  // Array.prototype.sort is stable (ES2019), so definition order holds within a rank.
  return out.sort((a, b) => b.specificity - a.specificity);
}

/** {@link decideTarget}, explained. */
export function explainTarget(
  target: HostPort,
  index: ServiceIndex,
  passthrough: HostSet,
): TargetExplanation {
  const decision = decideTarget(target, index, passthrough);
  const services = serviceHostMatches(index, target);
  const pass = matchHostSet(passthrough, target);
  const top = services[0]?.specificity ?? -1;
  let reason: TargetExplanation['reason'];
  if (decision === 'intercept')
    reason = pass !== undefined && pass.specificity === top ? 'service_wins_tie' : 'service_host';
  else if (decision === 'tunnel')
    reason = services.length > 0 ? 'more_specific_passthrough' : 'passthrough_host';
  else reason = 'not_listed';
  return { decision, services, passthrough: pass, reason };
}

/** One service considered for a request, and what became of it. */
export interface CandidateVerdict extends ServiceHostMatch {
  readonly pathPrefix: string;
  readonly pathMatched: boolean;
  /** `chosen`; `tied` (one of several equal winners: ambiguous); `lost`. */
  readonly outcome: 'chosen' | 'tied' | 'lost';
  /**
   * Why: for `chosen`: `x_clef_service`, `only_candidate`, `most_specific_host`, `longest_path_prefix`; for `lost`:
   * `path_prefix_mismatch`, `x_clef_service_named_another`, `less_specific_host`, `shorter_path_prefix`,
   * `ambiguous` (lost only because the winners tied).
   */
  readonly reason:
    | 'x_clef_service'
    | 'only_candidate'
    | 'most_specific_host'
    | 'longest_path_prefix'
    | 'path_prefix_mismatch'
    | 'x_clef_service_named_another'
    | 'less_specific_host'
    | 'shorter_path_prefix'
    | 'ambiguous';
}

/** {@link matchService}'s result, with a verdict for every service whose host entries cover the target. */
export interface MatchExplanation {
  readonly result: Step<MatchResult>;
  readonly candidates: readonly CandidateVerdict[];
}

/** {@link matchService}, explained. `result` is exactly what `matchService(args)` returns. */
export function explainMatch(args: MatchArgs): MatchExplanation {
  const result = matchService(args);
  const hosts = serviceHostMatches(args.index, args.target);
  const matched = hosts.filter((h) => pathMatches(h.service.pathPrefix, args.path));
  const chosen = result.ok && result.value.kind === 'service' ? result.value.service : undefined;
  const tied =
    !result.ok && result.code === 'ambiguous_service' ? new Set(result.extras?.candidates) : undefined;
  const winner = matched.find((h) => h.service === chosen || tied?.has(h.service.name));
  const candidates = hosts.map((h): CandidateVerdict => {
    const base = {
      ...h,
      pathPrefix: h.service.pathPrefix,
      pathMatched: pathMatches(h.service.pathPrefix, args.path),
    };
    if (!base.pathMatched) return { ...base, outcome: 'lost', reason: 'path_prefix_mismatch' };
    if (args.clefService !== undefined) {
      return h.service === chosen
        ? { ...base, outcome: 'chosen', reason: 'x_clef_service' }
        : { ...base, outcome: 'lost', reason: 'x_clef_service_named_another' };
    }
    if (h.service === chosen) {
      const reason =
        matched.length === 1
          ? 'only_candidate'
          : matched.some((o) => o !== h && o.specificity === h.specificity)
            ? 'longest_path_prefix'
            : 'most_specific_host';
      return { ...base, outcome: 'chosen', reason };
    }
    if (tied?.has(h.service.name) && winner !== undefined && h.specificity === winner.specificity) {
      return { ...base, outcome: 'tied', reason: 'ambiguous' };
    }
    if (winner !== undefined && h.specificity < winner.specificity) {
      return { ...base, outcome: 'lost', reason: 'less_specific_host' };
    }
    return { ...base, outcome: 'lost', reason: 'shorter_path_prefix' };
  });
  return { result, candidates };
}
