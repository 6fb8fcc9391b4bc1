/**
 * A strict validator for OTLP/HTTP JSON log exports (`ExportLogsServiceRequest`, opentelemetry-proto
 * `collector/logs/v1` and `logs/v1/logs.proto`, JSON mapping per the OTLP spec). Stands in for an OpenTelemetry
 * Collector, which cannot be installed here: every object may only carry the proto's fields (a Collector's
 * decoder would refuse or drop others), 64-bit integers are decimal strings (or numbers), `AnyValue` holds
 * exactly one kind. Throws with the JSON path of the first problem.
 */

type Json = Record<string, unknown>;

function fail(path: string, why: string): never {
  throw new Error(`${path}: ${why}`);
}

function obj(v: unknown, path: string, allowed: readonly string[]): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'expected an object');
  for (const k of Object.keys(v))
    if (!allowed.includes(k)) fail(`${path}.${k}`, 'not a field of the message');
  return v as Json;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, 'expected an array');
  return v;
}

function uint64(v: unknown, path: string): bigint {
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return fail(path, 'expected a uint64 (decimal string)');
}

function anyValue(v: unknown, path: string): void {
  const o = obj(v, path, [
    'stringValue',
    'boolValue',
    'intValue',
    'doubleValue',
    'arrayValue',
    'kvlistValue',
    'bytesValue',
  ]);
  const keys = Object.keys(o);
  if (keys.length !== 1) fail(path, 'expected exactly one value kind');
  const [k] = keys as [string];
  const x = o[k];
  if (k === 'stringValue' && typeof x !== 'string') fail(path, 'stringValue must be a string');
  if (k === 'boolValue' && typeof x !== 'boolean') fail(path, 'boolValue must be a boolean');
  if (k === 'intValue' && !(typeof x === 'string' ? /^-?\d+$/.test(x) : Number.isSafeInteger(x)))
    fail(path, 'intValue must be an int64');
  if (k === 'doubleValue' && typeof x !== 'number') fail(path, 'doubleValue must be a number');
}

function keyValues(v: unknown, path: string): Map<string, Json> {
  const out = new Map<string, Json>();
  arr(v, path).forEach((kv, i) => {
    const o = obj(kv, `${path}[${i}]`, ['key', 'value']);
    if (typeof o.key !== 'string' || o.key === '') fail(`${path}[${i}].key`, 'expected a non-empty string');
    if (out.has(o.key)) fail(`${path}[${i}].key`, 'duplicate key');
    anyValue(o.value, `${path}[${i}].value`);
    out.set(o.key, o.value as Json);
  });
  return out;
}

/** One validated log record, simplified for assertions. */
export interface OtlpRecord {
  readonly timeUnixNano: bigint;
  readonly severityNumber: number;
  readonly body: string;
  readonly attributes: Map<string, Json>;
  readonly resource: Map<string, Json>;
  readonly scope: Json;
}

/** Validate a request body; returns its records in order. */
export function validateOtlpLogs(body: Buffer | string): OtlpRecord[] {
  const root = obj(JSON.parse(body.toString()), '$', ['resourceLogs']);
  const out: OtlpRecord[] = [];
  arr(root.resourceLogs, '$.resourceLogs').forEach((rl, i) => {
    const p = `$.resourceLogs[${i}]`;
    const r = obj(rl, p, ['resource', 'scopeLogs', 'schemaUrl']);
    const res = obj(r.resource, `${p}.resource`, ['attributes', 'droppedAttributesCount', 'entityRefs']);
    const resource = keyValues(res.attributes ?? [], `${p}.resource.attributes`);
    arr(r.scopeLogs, `${p}.scopeLogs`).forEach((sl, j) => {
      const q = `${p}.scopeLogs[${j}]`;
      const s = obj(sl, q, ['scope', 'logRecords', 'schemaUrl']);
      const scope = obj(s.scope, `${q}.scope`, ['name', 'version', 'attributes', 'droppedAttributesCount']);
      arr(s.logRecords, `${q}.logRecords`).forEach((lr, k) => {
        const w = `${q}.logRecords[${k}]`;
        const l = obj(lr, w, [
          'timeUnixNano',
          'observedTimeUnixNano',
          'severityNumber',
          'severityText',
          'body',
          'attributes',
          'droppedAttributesCount',
          'flags',
          'traceId',
          'spanId',
          'eventName',
        ]);
        const time = uint64(l.timeUnixNano, `${w}.timeUnixNano`);
        uint64(l.observedTimeUnixNano, `${w}.observedTimeUnixNano`);
        const sev = l.severityNumber;
        if (typeof sev !== 'number' || !Number.isInteger(sev) || sev < 0 || sev > 24)
          fail(`${w}.severityNumber`, 'expected an integer 0-24');
        anyValue(l.body, `${w}.body`);
        const bodyText = (l.body as Json).stringValue;
        if (typeof bodyText !== 'string') fail(`${w}.body`, 'expected a stringValue body');
        out.push({
          timeUnixNano: time,
          severityNumber: sev,
          body: bodyText,
          attributes: keyValues(l.attributes ?? [], `${w}.attributes`),
          resource,
          scope,
        });
      });
    });
  });
  return out;
}
