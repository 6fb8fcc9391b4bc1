/**
 * The public API of `@clef-sh/proxy` (SPEC §11): start a proxy in-process — as a test harness or embedded in a
 * supervisor — over the same core the CLI uses. Re-exports only.
 */

export { createAgentSource } from './agent/agent-source.js';
export type { IdentityInput, IdentityTable } from './agent/identities.js';
export type { CredentialSource, Service, ServiceAuth, ServiceIndex } from './agent/source.js';
export type { StaticSource, StaticSourceOptions } from './agent/static-source.js';
export { createStaticSource } from './agent/static-source.js';
export { createAuditSink } from './audit/create-sink.js';
export type { AuditEvent, DenyEvent, RequestEvent, TunnelEvent } from './audit/events.js';
export type { AuditSink } from './audit/sink.js';
export { fromFunction } from './audit/sink.js';
export type { TurnBarrier } from './audit/turn-barrier.js';
export { createTurnBarrier } from './audit/turn-barrier.js';
export type { BinaryCommand, BinaryPathOptions } from './binary-path.js';
export { binaryPath, platformPackageName } from './binary-path.js';
export type { Limits } from './config/types.js';
export type { ConnectionRefusalCode, ProxyErrorCode } from './errors.js';
export { ERROR_TABLE, ProxyError } from './errors.js';
export { ExitCode, StartupError } from './exit-codes.js';
export type { ProxyStats, RunningProxy, StartProxyOptions } from './proxy.js';
export { startProxy } from './proxy.js';
export type { CaMaterial } from './tls/ca-store.js';
export { loadCa, loadOrCreateCa } from './tls/ca-store.js';
