/** Shared by the hardening tests. */

/** Retry `fn` every `intervalMs` until it resolves; the test's own timeout bounds the wait. */
export async function eventually<T>(fn: () => Promise<T>, intervalMs = 20): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch {
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
