// `npm install && npm start` builds once: start rebuilds only when a source is newer than dist/.
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const { isStale } = require('../scripts/build-if-stale.js') as { isStale: (root: string) => boolean }
const pkg = require('../package.json') as { scripts: Record<string, string> }

t.test('start builds only when dist/ is missing or older than a source', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'fastify-miro-start-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const file = (path: string, mtime: number): void => {
    mkdirSync(join(root, path, '..'), { recursive: true })
    writeFileSync(join(root, path), '')
    utimesSync(join(root, path), mtime, mtime)
  }
  const now = Date.now() / 1000
  file('index.ts', now - 100)
  file('lib/options.ts', now - 100)
  t.equal(isStale(root), true, 'never built')
  file('dist/examples/app.js', now - 50)
  t.equal(isStale(root), false, 'built after the last change: no second build')
  file('lib/storage/redis.ts', now - 10)
  t.equal(isStale(root), true, 'a source changed since')
})

t.test('npm start runs the staleness check, not a full build', async (t) => {
  t.equal(pkg.scripts.start, 'node scripts/build-if-stale.js && node dist/examples/app.js')
  t.match(pkg.scripts.prepare ?? '', /build/)
})
