// What users install: the Fastify export triplet (default import, named import, require), the
// sandbox subpath, declarations that need no optional peer, and a package holding only dist/.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = join(__dirname, '..')
const node = (args: string[]): string => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim()

t.test('require, default import and named import all give the plugin', async (t) => {
  t.equal(node(['-e', `
    const miro = require('fastify-miro')
    const { fastifyMiro, default: d, MiroStorageError } = require('fastify-miro')
    console.log([typeof miro, miro === fastifyMiro, miro === d, typeof MiroStorageError, miro[Symbol.for('fastify.display-name')]].join(' '))
  `]), 'function true true function fastify-miro')
  t.equal(node(['--input-type=module', '-e', `
    import miro, { fastifyMiro, MiroNotAuthorizedError } from 'fastify-miro'
    import { startSandbox } from 'fastify-miro/sandbox'
    console.log([typeof miro, miro === fastifyMiro, new MiroNotAuthorizedError().code, typeof startSandbox].join(' '))
  `]), 'function true FST_MIRO_NOT_AUTHORIZED function')
})

t.test('the declarations import no optional peer', async (t) => {
  const files: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (name.endsWith('.d.ts')) files.push(path)
    }
  }
  walk(join(root, 'dist', 'lib'))
  walk(join(root, 'dist', 'sandbox'))
  files.push(join(root, 'dist', 'index.d.ts'))
  const imported = new Set<string>()
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/from '([^.][^']*)'/g)) imported.add(match[1] ?? '')
  }
  t.same([...imported].filter((m) => !['fastify', '@mirohq/miro-api', '@mirohq/miro-api/dist/storage', 'node:http'].includes(m)), [],
    'only fastify, the SDK and Node: a user of one backend does not need the other')
})

t.test('npm pack holds only what a user needs', async (t) => {
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>
  const paths = packed[0]!.files.map((f) => f.path)
  t.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts') && paths.includes('dist/sandbox/index.js'))
  t.same(paths.filter((p) => !/^(dist\/(index\.(js|d\.ts)|lib\/.+\.(js|d\.ts)|sandbox\/.+\.(js|d\.ts))|README\.md|LICENSE|package\.json)$/.test(p)), [],
    'no sources, tests, examples, benches or build leftovers')
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>
  t.same(Object.keys(pkg.dependencies ?? {}).sort(), ['@fastify/error', '@mirohq/miro-api', 'fast-jwt', 'fastify-plugin'])
  t.same(pkg.peerDependenciesMeta, { '@fastify/cookie': { optional: true }, '@fastify/redis': { optional: true }, '@fastify/session': { optional: true } })
  t.ok(pkg.peerDependencies?.fastify)
})
