// Small statistics helpers for the benchmark report.

/**
 * The q-quantile (0..1) of `values` by nearest rank; null for an empty list. Sorts a copy.
 * @param {ArrayLike<number>} values
 * @param {number} q
 */
export function quantile(values, q) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/**
 * Median of the non-null numbers in `values`, or null when there are none.
 * @param {Array<number | null | undefined>} values
 */
export function median(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (xs.length === 0) return null;
  xs.sort((a, b) => a - b);
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/**
 * For each numeric key present in the rounds, the median across rounds (null-valued keys stay null).
 * @param {Array<Record<string, number | null>>} rounds
 */
export function medianOfRounds(rounds) {
  const out = {};
  const keys = new Set(rounds.flatMap((r) => Object.keys(r)));
  for (const key of keys) out[key] = median(rounds.map((r) => r[key]));
  return out;
}

/**
 * `a / b`, or null when either is missing or b is 0.
 * @param {number | null} a
 * @param {number | null} b
 */
export function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null;
}
