// `npm start`: `npm install` has already built dist/ (prepare), so build again only when a
// source or the build configuration is newer than the last build. One full tsc build takes
// tens of seconds; a second one before the first line of output was most of the start time.
'use strict'
const { spawnSync } = require('node:child_process')
const { readdirSync, statSync } = require('node:fs')
const { join } = require('node:path')

const SOURCES = ['index.ts', 'lib', 'sandbox', 'examples', 'bench', 'tsconfig.json', 'package.json']

function newestMtime (path) {
  let stat
  try { stat = statSync(path) } catch { return 0 }
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = 0
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)))
  return newest
}

/** True when dist/ is missing or older than a source of `root`. */
function isStale (root) {
  let built
  try { built = statSync(join(root, 'dist', 'examples', 'app.js')).mtimeMs } catch { return true }
  return SOURCES.some((source) => newestMtime(join(root, source)) > built)
}

module.exports = { isStale }

if (require.main === module) {
  const root = join(__dirname, '..')
  if (isStale(root)) {
    const result = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' })
    process.exitCode = result.status ?? 1
  }
}
