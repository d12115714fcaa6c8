/**
 * AdmissionReview in → AdmissionReview out, without HTTP. The webhook's handler (handler.ts) and
 * `runguard check` both call reviewAdmission(), so the CLI prints exactly what the webhook says.
 */
import { Ajv, type ValidateFunction } from 'ajv'
import type { Config } from '../config.ts'
import { admissionReviewSchema } from '../../webhooks/schemas.ts'
import type { Route, WebhookMode } from './definition.ts'
import { decide, findRoute } from './dispatch.ts'
import { errored, toAdmissionResponse } from './response.ts'
import type { AdmissionRequest, AdmissionReview, Decision } from './types.ts'

let reviewGuard: ValidateFunction | undefined

/** Checks the envelope. Returns the request, or a message saying what is wrong with the body. */
export function decodeReview(body: unknown): { request: AdmissionRequest } | { error: string } {
  reviewGuard ??= new Ajv({ allErrors: false, strict: false }).compile(admissionReviewSchema)
  if (!reviewGuard(body)) {
    const e = reviewGuard.errors?.[0]
    const where = e?.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : 'body'
    return { error: `malformed AdmissionReview: ${where} ${e?.message ?? 'is invalid'}` }
  }
  const request = (body as AdmissionReview).request as AdmissionRequest
  request.userInfo ??= {}
  return { request }
}

export interface ReviewOutcome {
  review: AdmissionReview
  request: AdmissionRequest
  decision: Decision
  /** The route that judged the request; undefined when none claims it. */
  route: Route | undefined
}

export function reviewAdmission(routes: readonly Route[], mode: WebhookMode, request: AdmissionRequest, config: Config, now: Date): ReviewOutcome {
  const route = findRoute(routes, request)
  let decision: Decision
  try {
    decision = decide(route, { request, config, now, mode })
  } catch (err) {
    // A rule that throws is a bug of ours; the user still gets an answer, and an error decision
    // is what failurePolicy would have produced anyway.
    decision = errored(500, `runguard internal error while admitting this object: ${(err as Error).message}`, 'InternalError')
  }
  return {
    request,
    decision,
    route,
    review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: toAdmissionResponse(request.uid, decision, mode) },
  }
}
