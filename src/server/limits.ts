/** Request limits of the webhook server, in a module of their own so the CLI can show them without loading Fastify. */

/**
 * The API server refuses write bodies over 3 MiB, and a review carries at most object + oldObject
 * plus a little envelope: 7 MiB, the limit controller-runtime's webhook server applies. Every byte
 * above it is memory an attacker could make each connection hold (and the heap keep afterwards).
 */
export const DEFAULT_BODY_LIMIT = 7 * 1024 * 1024
