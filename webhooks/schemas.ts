/**
 * ajv JSON Schemas used by the webhooks. They guard shapes only — "is this an object with a
 * metadata object" — so that rules never trip over malformed input; the rules give the
 * user-facing messages for values.
 */

/** admission.k8s.io/v1 AdmissionReview as the API server sends it. */
export const admissionReviewSchema = {
  $id: 'runguard/admission-review',
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { const: 'admission.k8s.io/v1' },
    kind: { const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid', 'kind', 'resource', 'operation'],
      properties: {
        uid: { type: 'string', minLength: 1 },
        kind: {
          type: 'object',
          required: ['group', 'version', 'kind'],
          properties: { group: { type: 'string' }, version: { type: 'string' }, kind: { type: 'string' } },
        },
        resource: {
          type: 'object',
          required: ['group', 'version', 'resource'],
          properties: { group: { type: 'string' }, version: { type: 'string' }, resource: { type: 'string' } },
        },
        subResource: { type: 'string' },
        name: { type: 'string' },
        namespace: { type: 'string' },
        operation: { enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
        userInfo: {
          type: 'object',
          properties: { username: { type: 'string' }, groups: { type: 'array', items: { type: 'string' } } },
        },
        object: { type: ['object', 'null'] },
        oldObject: { type: ['object', 'null'] },
        dryRun: { type: 'boolean' },
      },
    },
  },
} as const

const metadataSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    generation: { type: 'integer' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const

/** An AgentRun, OrchestrationRun or ToolRun: spec and status, when present, are objects. */
export const runObjectSchema = {
  $id: 'runguard/run-object',
  type: 'object',
  required: ['metadata'],
  properties: {
    metadata: metadataSchema,
    spec: { type: 'object' },
    status: { type: 'object' },
  },
} as const

/** A batch/v1 Job as far as the TTL hold needs it. */
export const jobObjectSchema = {
  $id: 'runguard/job-object',
  type: 'object',
  required: ['metadata', 'spec'],
  properties: {
    metadata: metadataSchema,
    spec: { type: 'object', properties: { ttlSecondsAfterFinished: { type: 'integer' } } },
  },
} as const

