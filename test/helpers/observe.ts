/** Test doubles for what the webhook reports to: a recording observer, Event sink and log. */
import { Writable } from 'node:stream'
import type { AdmissionEventSink, AdmissionObserver, DecisionRoute, EventTarget, RequestTrace } from '../../src/admission/observer.ts'
import type { AdmissionRequest, Decision } from '../../src/admission/types.ts'
import { createLogger, type Logger } from '../../src/log.ts'
import type { Metrics } from '../../src/metrics.ts'

export interface Observed {
  request: AdmissionRequest
  decision: Decision
  route: DecisionRoute
  trace: RequestTrace
}

/** An observer that records every call, then passes it on to `next` (if any). */
export function recordingObserver(next?: AdmissionObserver): AdmissionObserver & { calls: Observed[] } {
  const calls: Observed[] = []
  return {
    calls,
    decided(request, decision, route, trace) {
      calls.push({ request, decision, route, trace })
      next?.decided(request, decision, route, trace)
    },
  }
}

export interface SentEvent {
  regarding: EventTarget
  reason: string
  message: string
  action: string | undefined
}

export function recordingEventSink(): AdmissionEventSink & { sent: SentEvent[] } {
  const sent: SentEvent[] = []
  return {
    sent,
    warning(regarding, reason, message, options) {
      sent.push({ regarding, reason, message, action: options?.action })
    },
  }
}

/** A pino logger at `level` whose JSON lines are kept, parsed, in `lines`. */
export function capturedLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  return { logger: createLogger(level, 'webhook', destination), lines }
}

/** The value of one labelled series of a counter or gauge (0 when it was never touched). */
export async function sample(metric: Metrics[keyof Metrics], labels: Record<string, string>): Promise<number> {
  const { values } = await (metric as { get(): Promise<{ values: Array<{ value: number; labels: Record<string, string | number> }> }> }).get()
  const found = values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
  return found?.value ?? 0
}
