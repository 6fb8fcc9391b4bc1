/**
 * Workload identities (issue 12 "Per-workload identity"): the `/v1/identities` document, its valibot schema, and the
 * frozen {@link IdentityTable} built from it once per document, so authentication never re-parses. A document with
 * any bad entry is rejected whole and the last good table stays in force (as for services, SPEC §5).
 */
import * as v from 'valibot';

/**
 * The identities in force: the SHA-256 digest of each identity's token, by name. The table never holds a token,
 * only digests, so neither a heap dump nor a log line of it can open the door.
 */
export interface IdentityTable {
  /** Name → 32-byte SHA-256 digest of the token. */
  readonly byName: ReadonlyMap<string, Buffer>;
}

/**
 * An identity name: what a workload puts before the colon of `Proxy-Authorization: Basic`. RFC 7617 §2 forbids a
 * colon there; spaces and control characters are refused so a name prints as one token in logs and `explain`; `*`
 * is the pattern character of a service's `identities` list and so cannot be part of a name.
 */
export const IDENTITY_NAME_RE = /^[^\x00-\x20\x7f:*]{1,128}$/;
/** A service's `identities` entry: a name, or a glob where `*` matches any run of characters (see check-identity). */
export const IDENTITY_PATTERN_RE = /^[^\x00-\x20\x7f:]{1,128}$/;
const HEX_SHA256_RE = /^[0-9a-fA-F]{64}$/;

const IdentitySchema = v.strictObject({
  name: v.pipe(
    v.string(),
    v.regex(IDENTITY_NAME_RE, 'name must be 1–128 characters without spaces, controls, ":" or "*"'),
  ),
  token_sha256: v.pipe(
    v.string(),
    v.regex(HEX_SHA256_RE, 'token_sha256 must be 64 hexadecimal characters (a SHA-256 digest)'),
  ),
});

/** The `/v1/identities` body: a bare array of `{ "name", "token_sha256" }`. */
export const IdentitiesDocSchema = v.array(IdentitySchema);

/** One identity in wire format, as the agent sends it and as a static source takes it. */
export type IdentityInput = v.InferInput<typeof IdentitySchema>;

/** The outcome of validating an identities document. */
export type IdentitiesParseResult =
  | { readonly ok: true; readonly table: IdentityTable }
  | { readonly ok: false; readonly issues: string[] };

/**
 * Validate an identities document. Names must be unique (exactly: names are compared as sent, case-sensitively,
 * like the Basic username they are matched against). Every issue is reported with its index.
 */
export function parseIdentitiesDoc(raw: unknown): IdentitiesParseResult {
  const result = v.safeParse(IdentitiesDocSchema, raw);
  if (!result.success) {
    return {
      ok: false,
      issues: result.issues.map((issue) => `${v.getDotPath(issue) ?? '(root)'}: ${issue.message}`),
    };
  }
  const byName = new Map<string, Buffer>();
  const issues: string[] = [];
  result.output.forEach((entry, i) => {
    if (byName.has(entry.name)) issues.push(`${i}.name: duplicate identity "${entry.name}"`);
    else byName.set(entry.name, Buffer.from(entry.token_sha256, 'hex'));
  });
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, table: Object.freeze({ byName }) };
}
