/**
 * One pino root logger per process; each subsystem takes a child with its own
 * keys (`{ subsystem: 'dhcp' }`). Library modules never create loggers: they
 * log through the one they are given.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** Create the root logger. JSON lines on stderr so stdout stays for command output. */
export function createRootLogger(level: LevelWithSilent = 'info'): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that drops everything: the default for library code under test. */
export const silentLogger: Logger = pino({ level: 'silent' });
