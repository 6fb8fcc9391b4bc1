/**
 * `{"sink":"webhook"}` (docs/audit.md): audit events as NDJSON — the same JSON lines as the stdout and file sinks,
 * one per event — POSTed in batches to an HTTPS receiver such as a SIEM's HTTP event collector.
 */
import type { WebhookAuditSettings } from '../config/types.js';
import { createBatchShipper, type ShippingAuditSink } from './batch-shipper.js';
import type { AuditSinkOptions } from './create-sink.js';

/** Options for {@link createWebhookSink} beyond the settings. */
export interface WebhookSinkOptions extends AuditSinkOptions {
  /** PEM roots added to the defaults (`upstream_ca_file`): the receiver is trusted like an upstream. */
  readonly extraCa?: readonly string[];
  /** Test seams: first retry delay and per-POST deadline. */
  readonly retryBaseMs?: number;
  readonly requestTimeoutMs?: number;
}

/**
 * Retried: 5xx, 408 (Request Timeout) and 429 (Too Many Requests) — the receiver may take the same batch later.
 * Any other status (400, 401, 403, 413, …) says this batch will never be accepted; it is dropped and counted so
 * later events are not stuck behind it forever.
 */
export function isRetryableWebhookStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Create the webhook sink. `settings.headers` must already be resolved (`resolveServe`). */
export function createWebhookSink(
  settings: WebhookAuditSettings,
  opts: WebhookSinkOptions = {},
): ShippingAuditSink {
  return createBatchShipper({
    ...opts,
    label: 'webhook',
    url: new URL(settings.url),
    headers: { 'content-type': 'application/x-ndjson', 'user-agent': 'clef-proxy', ...settings.headers },
    batching: settings,
    encode: (lines) => Buffer.from(lines.join('')),
    retryable: isRetryableWebhookStatus,
  });
}
