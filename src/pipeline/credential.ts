/**
 * What a service's credential needs and how it is named in the audit log (SPEC §5, issue 12): the secret names to
 * fetch for each auth type, and the `secret_ref` field — one name for the single-secret types, the list of names for
 * `basic` and `template`. Names only, never values.
 */
import type { ServiceAuth } from '../agent/source.js';

const NAMES_CACHE = new WeakMap<ServiceAuth, readonly string[]>();

/**
 * Every secret `auth` needs, each once: `[secret]` for bearer and the API-key types, `[username_secret, secret]`
 * (or `[secret]`) for basic, the placeholders' names for a template. Cached per (frozen) auth object, so the hot
 * path allocates nothing after the first request of a services revision.
 */
export function secretNames(auth: ServiceAuth): readonly string[] {
  if (auth.type === 'template') return auth.secrets;
  let names = NAMES_CACHE.get(auth);
  if (names === undefined) {
    const list = [auth.secret];
    if (auth.type === 'basic' && auth.usernameSecret !== undefined && auth.usernameSecret !== auth.secret) {
      list.unshift(auth.usernameSecret);
    }
    names = Object.freeze(list);
    NAMES_CACHE.set(auth, names);
  }
  return names;
}

/**
 * The audit `secret_ref` of `auth` (docs/audit.md): the name as a string for `bearer`, `api_key_header` and
 * `api_key_query` (unchanged from v1), the list of names for `basic` and `template`.
 */
export function secretRef(auth: ServiceAuth): string | readonly string[] {
  return auth.type === 'basic' || auth.type === 'template' ? secretNames(auth) : auth.secret;
}
