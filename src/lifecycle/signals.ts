/**
 * The only module that touches process signals and process-wide fault handlers (STYLE habit 5, SPEC §8).
 */
import type { Logger } from '../log/logger.js';

export interface SignalHandlers {
  /** First SIGTERM/SIGINT: drain. */
  readonly drain: (signal: NodeJS.Signals) => void;
  /** A second SIGTERM/SIGINT during the drain: end at once. */
  readonly now: (signal: NodeJS.Signals) => void;
  /** SIGHUP: reload the CA and refresh services. */
  readonly reload: () => void;
}

/** Install the handlers; returns a function that removes them. */
export function onSignals(handlers: SignalHandlers): () => void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) handlers.now(signal);
    else {
      stopping = true;
      handlers.drain(signal);
    }
  };
  const hup = () => handlers.reload();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Windows has no SIGHUP to send; the listener is harmless there.
  process.on('SIGHUP', hup);
  return () => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('SIGHUP', hup);
  };
}

/**
 * SPEC §8: an uncaught fault in one connection closes that connection only — never the process. Every socket and
 * request path has its own error handling; this is the last net, which logs what escaped so it can be fixed.
 */
export function guardProcess(logger: Logger): () => void {
  const onException = (err: Error) => {
    logger.error(
      { err: { name: err.name, message: err.message, stack: err.stack } },
      'uncaught exception (process kept alive)',
    );
  };
  const onRejection = (reason: unknown) => {
    const err =
      reason instanceof Error
        ? { name: reason.name, message: reason.message, stack: reason.stack }
        : String(reason);
    logger.error({ err }, 'unhandled rejection (process kept alive)');
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
