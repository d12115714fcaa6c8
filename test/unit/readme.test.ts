import { readFileSync } from 'node:fs'
import t from 'tap'
import { settingsMarkdown } from '../../src/config.ts'

t.test('the README configuration table is the one the code generates', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const match = /<!-- BEGIN config-table[^\n]*-->\n([\s\S]*?)\n<!-- END config-table -->/.exec(readme)
  t.ok(match, 'README has the config-table markers')
  t.equal(match?.[1], settingsMarkdown(), 'run `node src/cli.ts config` and paste it between the markers')
})
