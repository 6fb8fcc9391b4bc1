/**
 * Operational logs: pino JSON lines on stderr (SPEC §1). Secrets never reach here: callers log codes, hosts and
 * error messages of their own; the serializers below strip credential headers if an object slips through.
 */
import { type Logger, pino } from 'pino';
import type { LogLevel } from '../config/types.js';

export type { Logger };

const REDACT = {
  paths: [
    'headers.authorization',
    'headers["proxy-authorization"]',
    'headers.cookie',
    '*.headers.authorization',
    '*.headers["proxy-authorization"]',
    '*.headers.cookie',
    'token',
    '*.token',
    'password',
    '*.password',
  ],
  censor: '[redacted]',
};

/** Create the process logger writing to fd 2 (or a given destination, for tests). */
export function createLogger(level: LogLevel = 'info', destination?: NodeJS.WritableStream): Logger {
  const dest = destination ?? pino.destination({ fd: 2, sync: false });
  return pino({ level, base: { name: 'clef-proxy' }, redact: REDACT }, dest as pino.DestinationStream);
}

/** A logger that writes nothing (library default). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
