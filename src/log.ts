import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; `silent` for tests and embedding apps that log themselves. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'pushframe' } });
}
