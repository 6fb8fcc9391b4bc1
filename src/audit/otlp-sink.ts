/**
 * `{"sink":"otlp"}` (docs/audit.md): audit events as OpenTelemetry log records, POSTed as OTLP/HTTP JSON to
 * `{endpoint}/v1/logs` — the path and encoding every OpenTelemetry Collector's `otlp` receiver accepts on port
 * 4318. Batching, the drop-oldest queue, TLS and retries are the webhook's (`batch-shipper.ts`); the encoding is
 * ours (`otlp-encode.ts`): docs/performance.md says why the official exporter packages are not used.
 */
import type { OtlpAuditSettings } from '../config/types.js';
import { createBatchShipper, type ShippingAuditSink } from './batch-shipper.js';
import { encodeOtlpLogs, rejectedLogRecords } from './otlp-encode.js';
import type { WebhookSinkOptions } from './webhook-sink.js';

/**
 * OTLP/HTTP §Failures: 429, 502, 503 and 504 are retryable, every other error status is not (the batch is
 * dropped and counted).
 */
export function isRetryableOtlpStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

/** Create the OTLP sink. `settings.headers` must already be resolved (`resolveServe`). */
export function createOtlpSink(
  settings: OtlpAuditSettings,
  opts: WebhookSinkOptions = {},
): ShippingAuditSink {
  return createBatchShipper({
    ...opts,
    label: 'otlp',
    url: new URL(`${settings.endpoint}/v1/logs`),
    headers: { 'content-type': 'application/json', 'user-agent': 'clef-proxy', ...settings.headers },
    batching: settings,
    encode: (lines) => encodeOtlpLogs(lines),
    retryable: isRetryableOtlpStatus,
    rejectedIn: rejectedLogRecords,
  });
}
