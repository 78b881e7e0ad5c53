// Fresh projects that install the packed package, as a user's would: each import style (default,
// named, `require`, `import x = require()`) must be typed as the plugin, with its options checked,
// under module nodenext (ESM and CommonJS), moduleResolution bundler and node10, and in
// JavaScript checked by the editor (checkJs), with TypeScript 5.9 and the newest. Every
// TypeScript block of README.md compiles as written in the ESM project (strict,
// exactOptionalPropertyTypes), each as its own module after its hidden preamble.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { compile, packedWorkspace, typescriptVersions } from './helpers/consumer'
import { readmeTypeScriptBlocks } from './helpers/readme'

// One tsc run per project and TypeScript version, two at a time, on a shared machine.
t.setTimeout(600_000)

const readme = readmeTypeScriptBlocks(readFileSync(join(__dirname, '..', 'README.md'), 'utf8'))
const readmeFiles = Object.fromEntries(readme.map((b) => [`readme-${b.line}.ts`, `${b.preamble}\n${b.code}\nexport {}\n`]))

const strict = { strict: true, exactOptionalPropertyTypes: true, noEmit: true, skipLibCheck: true, types: ['node'], target: 'ES2022' }

// Shared by every TypeScript project: `plugin` and `named` are the plugin as imported.
const useIt = `
const app = Fastify()
const options: FastifyMiroOptions = { clientId: process.env.MIRO_CLIENT_ID, storage: 'session' }
app.register(plugin, options)
app.register(named, { storage: 'redis', redis: { keyPrefix: 'm:' } })
// @ts-expect-error the options are typed: an unknown storage is refused
app.register(plugin, { storage: 'mongo' })
// @ts-expect-error the options are typed: an unknown key is refused
app.register(named, { storag: 'redis' })
app.get('/', { preHandler: app.miro.requireAuth }, async (request) => {
  const authorized: boolean = await request.miro.isAuthorized('u')
  return { authorized, boards: request.miroApi().getAllBoards() !== undefined }
})
const notAuthorized: Error = new MiroNotAuthorizedError()
export const started: Promise<Sandbox> = startSandbox({ expiresIn: 3599 })
export { notAuthorized }
`

const esmImports = `
import Fastify from 'fastify'
import plugin, { fastifyMiro as named, MiroNotAuthorizedError, type FastifyMiroOptions } from 'fastify-miro'
import { startSandbox, type Sandbox } from 'fastify-miro/sandbox'
`

t.test('consumer projects compile against the packed package', async (t) => {
  const versions = typescriptVersions()
  const ws = packedWorkspace()
  t.teardown(() => ws.remove())

  // Every name `require('fastify-miro')` has at run time must be in its types too.
  const runtimeNames = Object.keys(require(`${ws.dir}/node_modules/fastify-miro`) as object)
  t.ok(runtimeNames.includes('MiroStorageError') && runtimeNames.includes('default'))
  t.ok(readme.length >= 7, `README.md has its TypeScript blocks (${readme.length})`)

  const projects: Array<{ name: string, dir: string, skip?: (major: number) => string | false }> = [
    {
      name: 'ESM, module nodenext',
      dir: ws.project('esm-nodenext', {
        'package.json': { type: 'module' },
        'tsconfig.json': { compilerOptions: { ...strict, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['index.ts', ...Object.keys(readmeFiles)] },
        'index.ts': esmImports + useIt,
        ...readmeFiles
      })
    },
    {
      name: 'CommonJS, module nodenext',
      dir: ws.project('cjs-nodenext', {
        'package.json': { type: 'commonjs' },
        'tsconfig.json': { compilerOptions: { ...strict, module: 'nodenext', moduleResolution: 'nodenext', esModuleInterop: true }, files: ['index.ts', 'default.ts'] },
        'index.ts': `
import Fastify = require('fastify')
import plugin = require('fastify-miro')
import sandbox = require('fastify-miro/sandbox')
const named = plugin.fastifyMiro
const { MiroNotAuthorizedError } = plugin
const startSandbox = sandbox.startSandbox
type FastifyMiroOptions = plugin.FastifyMiroOptions
type Sandbox = sandbox.Sandbox
${useIt}
// Each name require('fastify-miro') has at run time.
export const all = [${runtimeNames.map((n) => `plugin[${JSON.stringify(n)}]`).join(', ')}]
`,
        'default.ts': `
import Fastify from 'fastify'
import plugin, { fastifyMiro as named } from 'fastify-miro'
const app = Fastify()
app.register(plugin, { storage: 'memory' })
app.register(named, { storage: 'memory' })
// @ts-expect-error typed options
app.register(plugin, { storage: 'mongo' })
`
      })
    },
    {
      name: 'moduleResolution bundler',
      dir: ws.project('bundler', {
        'package.json': { type: 'module' },
        'tsconfig.json': { compilerOptions: { ...strict, module: 'preserve', moduleResolution: 'bundler' }, files: ['index.ts'] },
        'index.ts': esmImports + useIt
      })
    },
    {
      name: 'moduleResolution node10',
      skip: (major) => major >= 7 && 'TypeScript 7 has no moduleResolution node10',
      dir: ws.project('node10', {
        'package.json': { type: 'commonjs' },
        'tsconfig.json': { compilerOptions: { ...strict, module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }, files: ['index.ts'] },
        'index.ts': esmImports.replace('import Fastify', 'import * as F').replace("from 'fastify'\n", "from 'fastify'\nconst Fastify = F.default\n") + useIt
      })
    },
    {
      name: 'JavaScript with checkJs, require()',
      dir: ws.project('checkjs', {
        'package.json': { type: 'commonjs' },
        'tsconfig.json': { compilerOptions: { ...strict, allowJs: true, checkJs: true, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['index.js'] },
        'index.js': `
const Fastify = require('fastify')
const fastifyMiro = require('fastify-miro')
const { fastifyMiro: named, MiroNotAuthorizedError } = require('fastify-miro')
const { startSandbox } = require('fastify-miro/sandbox')
const app = Fastify()
app.register(fastifyMiro, { clientId: process.env.MIRO_CLIENT_ID, storage: 'session' })
app.register(named, { storage: 'redis' })
// @ts-expect-error the editor knows the options
app.register(fastifyMiro, { storage: 'mongo' })
app.get('/', async (request) => request.miro.isAuthorized('u'))
/** @type {Error} */
const err = new MiroNotAuthorizedError()
module.exports = { err, started: startSandbox() }
`
      })
    }
  ]

  for (const ts of versions) {
    // Two at a time: the machine's cores are shared.
    for (let i = 0; i < projects.length; i += 2) {
      const results = await Promise.all(projects.slice(i, i + 2).map(async (p) => {
        const skipped = p.skip?.(ts.major)
        return { p, skipped, output: skipped ? '' : await compile(ts, p.dir) }
      }))
      for (const { p, skipped, output } of results) {
        if (skipped) {
          t.comment(`${p.name} with ${ts.name}: not applicable (${skipped})`)
          continue
        }
        const lines = output.split('\n').filter(Boolean)
        if (p.dir.endsWith('esm-nodenext')) {
          for (const block of readme) {
            t.same(lines.filter((l) => l.startsWith(`readme-${block.line}.ts`)), [], `README.md's block at line ${block.line} compiles with ${ts.name}`)
          }
        }
        t.same(lines.filter((l) => !l.startsWith('readme-')), [], `${p.name} compiles with ${ts.name}`)
      }
    }
  }
})
