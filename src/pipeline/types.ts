/**
 * The value every pure pipeline stage returns (STYLE habit 2): a stage never throws for a denial, it hands back a
 * {@link Step} whose failure side carries one §6 error code, so `run.ts` alone turns codes into responses and
 * audit events.
 */
import type { ErrorExtras, ProxyErrorCode } from '../errors.js';

/** A stage's success: the value the next stage works on. */
export interface StepOk<T> {
  readonly ok: true;
  readonly value: T;
}

/** A stage's denial: the §6 code to answer with, plus the extras some codes render (ambiguous_service). */
export interface StepDenied {
  readonly ok: false;
  readonly code: ProxyErrorCode;
  readonly extras?: ErrorExtras;
}

/** The result of one pipeline stage. */
export type Step<T> = StepOk<T> | StepDenied;

/** Build a success value. */
export function ok<T>(value: T): StepOk<T> {
  return { ok: true, value };
}

const DENIALS = new Map<ProxyErrorCode, StepDenied>();

/**
 * Build a denial. Denials without extras are interned per code: the hot path refuses without allocating, and
 * the frozen object cannot be mutated by one caller under another.
 */
export function deny(code: ProxyErrorCode, extras?: ErrorExtras): StepDenied {
  if (extras !== undefined) return Object.freeze({ ok: false, code, extras });
  let cached = DENIALS.get(code);
  if (cached === undefined) {
    cached = Object.freeze({ ok: false, code });
    DENIALS.set(code, cached);
  }
  return cached;
}

/** A frozen `ok(true)`, shared by the check stages whose success carries no data. */
export const OK_TRUE: StepOk<true> = Object.freeze({ ok: true, value: true });
