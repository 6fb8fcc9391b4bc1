/**
 * Audit events as OpenTelemetry log records in the OTLP/JSON encoding (OTLP 1.x, `ExportLogsServiceRequest`,
 * opentelemetry-proto `logs/v1/logs.proto`; JSON mapping per the OTLP spec: lowerCamelCase field names, enums as
 * integers, 64-bit integers as decimal strings). Each record's body is the audit JSON line itself and its
 * attributes are that line's fields, so a collector can route and filter on `decision`, `reason`, `host`, …
 * without parsing. Built from the serialized line, so only the allow-listed fields can ever appear.
 */
import { hostname } from 'node:os';

/** `AnyValue`: the four kinds an audit field can be. */
type AnyValue =
  | { readonly stringValue: string }
  | { readonly intValue: string }
  | { readonly doubleValue: number }
  | { readonly boolValue: boolean };

interface KeyValue {
  readonly key: string;
  readonly value: AnyValue;
}

/** SeverityNumber (logs.proto): INFO for what was allowed, WARN for refusals and failures. */
const SEVERITY_INFO = 9;
const SEVERITY_WARN = 13;

function anyValue(v: unknown): AnyValue | undefined {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  return undefined; // null: the field is left out, as OTLP has no null attribute
}

/** Nanoseconds since the epoch as a decimal string, from milliseconds (exact: no float rounding). */
function nanos(ms: number): string {
  return ms <= 0 ? '0' : `${ms}000000`;
}

/** One log record from one serialized audit line (`serialize.ts`, newline included). */
function record(line: string, observed: string): object {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  const fields = JSON.parse(text) as Record<string, unknown>;
  const attributes: KeyValue[] = [];
  for (const key of Object.keys(fields)) {
    const value = anyValue(fields[key]);
    if (value !== undefined) attributes.push({ key, value });
  }
  const ts = typeof fields.ts === 'string' ? Date.parse(fields.ts) : Number.NaN;
  const warn = fields.decision === 'deny' || typeof fields.reason === 'string';
  return {
    timeUnixNano: Number.isNaN(ts) ? observed : nanos(ts),
    observedTimeUnixNano: observed,
    severityNumber: warn ? SEVERITY_WARN : SEVERITY_INFO,
    severityText: warn ? 'WARN' : 'INFO',
    body: { stringValue: text },
    attributes,
  };
}

/** The resource every record of this process belongs to. */
export interface OtlpResource {
  readonly serviceName: string;
  readonly serviceVersion?: string;
  readonly hostName?: string;
}

/** The instrumentation scope: the audit schema, versioned like `schema_version`. */
const SCOPE = { name: 'clef-proxy.audit', version: '1' };

/** Encode a batch of audit lines as one `ExportLogsServiceRequest` (JSON). */
export function encodeOtlpLogs(
  lines: readonly string[],
  resource: OtlpResource = { serviceName: 'clef-proxy', hostName: hostname() },
  nowMs: number = Date.now(),
): Buffer {
  const observed = nanos(nowMs);
  const attributes: KeyValue[] = [{ key: 'service.name', value: { stringValue: resource.serviceName } }];
  if (resource.serviceVersion)
    attributes.push({ key: 'service.version', value: { stringValue: resource.serviceVersion } });
  if (resource.hostName) attributes.push({ key: 'host.name', value: { stringValue: resource.hostName } });
  const request = {
    resourceLogs: [
      {
        resource: { attributes },
        scopeLogs: [{ scope: SCOPE, logRecords: lines.map((l) => record(l, observed)) }],
      },
    ],
  };
  return Buffer.from(JSON.stringify(request));
}

/**
 * Records the collector rejected in a 2xx answer (`ExportLogsPartialSuccess.rejectedLogRecords`), 0 when none or
 * the body is not JSON.
 */
export function rejectedLogRecords(body: string): number {
  try {
    const n = (JSON.parse(body) as { partialSuccess?: { rejectedLogRecords?: unknown } })?.partialSuccess
      ?.rejectedLogRecords;
    const count = typeof n === 'string' || typeof n === 'number' ? Number(n) : 0;
    return Number.isSafeInteger(count) && count > 0 ? count : 0;
  } catch {
    return 0;
  }
}
