import type { MutationResult } from '../types.ts'

/** A mutator's report when it has nothing to say; shared, so never modify it. */
export const NO_CHANGE_REPORT: MutationResult = { warnings: [] }
