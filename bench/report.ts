/**
 * BENCHMARKS.md is shared by the benchmarks: each owns one `## ` section and rewrites only that
 * one, so running one benchmark never loses the figures of another.
 */
import { readFileSync, writeFileSync } from 'node:fs'

/** Replaces the section headed `heading` (up to the next `## `) in `file` with `section`, or appends it. */
export function writeSection(file: string, heading: string, section: string): void {
  let previous = '# Benchmarks\n'
  try {
    previous = readFileSync(file, 'utf8')
  } catch {
    // a new file
  }
  const at = previous.indexOf(`\n${heading}\n`)
  const body = `${section.trimEnd()}\n`
  if (at === -1) {
    writeFileSync(file, `${previous.trimEnd()}\n\n${body}`)
    return
  }
  const end = previous.indexOf('\n## ', at + 1)
  writeFileSync(file, `${previous.slice(0, at).trimEnd()}\n\n${body}${end === -1 ? '' : `\n${previous.slice(end + 1)}`}`)
}
