/**
 * The admission handler, one per HTTPS path declared in `webhooks/` (controller-runtime's
 * webhook.Handler): an AdmissionRequest in, an AdmissionReview out, and every decision reported
 * once to the observer. It knows nothing of HTTP — src/server/webhook-app.ts decodes the body,
 * calls handle() and sends what it returns.
 */
import type { Config } from '../config.ts'
import type { Route, WebhookDefinition, WebhookMode } from './definition.ts'
import type { AdmissionObserver, DecisionRoute, RequestTrace } from './observer.ts'
import { reviewAdmission } from './review.ts'
import type { AdmissionRequest, AdmissionReview } from './types.ts'

export interface AdmissionHandler {
  readonly path: string
  readonly mode: WebhookMode
  handle(request: AdmissionRequest, trace: RequestTrace): AdmissionReview
}

export interface HandlerOptions {
  config: Config
  observer: AdmissionObserver
  now: () => Date
}

export interface PathGroup {
  path: string
  mode: WebhookMode
  definitions: WebhookDefinition[]
}

/** Groups definitions by path; a path serving both modes is a definition bug, caught at start. */
export function groupByPath(webhooks: readonly WebhookDefinition[]): PathGroup[] {
  const groups = new Map<string, PathGroup>()
  for (const definition of webhooks) {
    const group = groups.get(definition.path)
    if (!group) {
      groups.set(definition.path, { path: definition.path, mode: definition.mode, definitions: [definition] })
    } else if (group.mode !== definition.mode) {
      throw new Error(`webhook ${definition.name}: path ${definition.path} already serves ${group.mode} webhooks`)
    } else {
      group.definitions.push(definition)
    }
  }
  return [...groups.values()]
}

/** One handler per path, each dispatching over the routes of every definition sharing the path. */
export function admissionHandlers(webhooks: readonly WebhookDefinition[], options: HandlerOptions): AdmissionHandler[] {
  return groupByPath(webhooks).map((group) => handlerFor(group, options))
}

function handlerFor({ path, mode, definitions }: PathGroup, { config, observer, now }: HandlerOptions): AdmissionHandler {
  const routes = definitions.flatMap((d) => d.routes)
  // Resolved once: the observer is told which definition judged each request.
  const reportedAs = new Map<Route, DecisionRoute>(definitions.flatMap((d) => d.routes.map((r) => [r, { path, webhook: d.name }] as const)))
  const unhandled: DecisionRoute = { path, webhook: 'unhandled' }
  return {
    path,
    mode,
    handle(request, trace) {
      const { review, decision, route } = reviewAdmission(routes, mode, request, config, now())
      observer.decided(request, decision, (route && reportedAs.get(route)) ?? unhandled, trace)
      return review
    },
  }
}
