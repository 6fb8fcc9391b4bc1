/**
 * The IPC messages between the `serve` primary and its workers (issue 14), other than audit events
 * (`ipc-audit-sink.ts`). The CA key travels only here: the IPC channel is a private socketpair, never the
 * environment or a file.
 */

/** Primary → worker, once, in answer to `clef-hello`: the CA and the port to listen on. */
export interface InitMessage {
  readonly type: 'clef-init';
  readonly certPem: string;
  readonly keyPem: string;
  readonly port: number;
}

/** Primary → worker: stop accepting, finish in-flight work within `timeoutMs`, flush audit, exit 0. */
export interface DrainMessage {
  readonly type: 'clef-drain';
  readonly timeoutMs: number;
}

/** Primary → worker on SIGHUP: re-read the config file, take this CA, refresh services. */
export interface ReloadMessage {
  readonly type: 'clef-reload';
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * Worker → primary: ready for `clef-init` (a message sent before the worker listens for it would be lost, so
 * the worker asks), then the proxy is listening (the primary logs the one `listening` line) or could not bind. */
export type WorkerReport =
  | { readonly type: 'clef-hello' }
  | { readonly type: 'clef-listening'; readonly address: string; readonly port: number }
  | { readonly type: 'clef-failed'; readonly reason: string };

export type ClusterMessage = InitMessage | DrainMessage | ReloadMessage | WorkerReport;

const TYPES = new Set([
  'clef-init',
  'clef-drain',
  'clef-reload',
  'clef-listening',
  'clef-failed',
  'clef-hello',
]);

/** True for one of our {@link ClusterMessage}s. */
export function isClusterMessage(m: unknown): m is ClusterMessage {
  return typeof m === 'object' && m !== null && TYPES.has(String((m as { type?: unknown }).type));
}
