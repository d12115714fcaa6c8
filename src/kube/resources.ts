/** The API resources runguard reads and writes besides its run kinds (run-kinds.ts), named once. */

/** An API resource: group, version and plural address it; `kind` names it in messages. */
export interface ResourceRef {
  /** API group; the core group ('') is not served by the custom-objects API runguard uses. */
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly kind: string
}

export const JOB_RESOURCE: ResourceRef = { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job' }

/** Argo Workflows; watched and patched only when discovery says the API is served. */
export const WORKFLOW_RESOURCE: ResourceRef = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows', kind: 'Workflow' }
