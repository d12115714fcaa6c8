/**
 * pino JSON logs. One logger per process, created from Config; modules take a child logger.
 */
import { pino, stdSerializers, type Logger } from 'pino'

export type { Logger }

export function createLogger(level: string, component: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { component },
    // Errors keep message, stack and cause; JSON.stringify(error) would print {}.
    serializers: { err: stdSerializers.err, error: stdSerializers.err },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }
  return destination ? pino(options, destination) : pino(options)
}

/** A logger that discards everything, for tests and offline commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
