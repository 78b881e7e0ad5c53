// What users install: the Fastify export triplet (default import, named import, require), the
// sandbox subpath, declarations that need no optional peer, and a package holding only dist/.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ts from 'typescript'

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

t.test('types/index.d.ts declares every export of index.ts (its namespace is kept by hand)', async (t) => {
  const files = [join(root, 'types', 'index.d.ts'), join(root, 'dist', 'index.d.ts')]
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, noEmit: true })
  const checker = program.getTypeChecker()
  const exportsOf = (file: string): string[] => {
    const source = program.getSourceFile(file)
    const symbol = source === undefined ? undefined : checker.getSymbolAtLocation(source)
    return symbol === undefined ? [] : checker.getExportsOfModule(symbol).map((s) => s.name).sort()
  }
  const emitted = exportsOf(files[1]!)
  t.ok(emitted.length > 30, `index.ts exports ${emitted.length} names`)
  t.same(exportsOf(files[0]!), emitted, 'the same names, types and values')
})

t.test('npm pack holds only what a user needs', async (t) => {
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>
  const paths = packed[0]!.files.map((f) => f.path)
  t.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts') && paths.includes('dist/sandbox/index.js'))
  t.same(paths.filter((p) => !/^(dist\/(index\.(js|d\.ts)|lib\/.+\.(js|d\.ts)|sandbox\/.+\.(js|d\.ts))|types\/index\.d\.ts|README\.md|LICENSE|package\.json)$/.test(p)), [],
    'no sources, tests, examples, benches or build leftovers')
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>
  t.same(Object.keys(pkg.dependencies ?? {}).sort(), ['@fastify/error', '@mirohq/miro-api', 'fast-jwt', 'fastify-plugin'])
  t.same(pkg.peerDependenciesMeta, { '@fastify/cookie': { optional: true }, '@fastify/redis': { optional: true }, '@fastify/session': { optional: true } })
  t.ok(pkg.peerDependencies?.fastify)
})

t.test('attw and publint find no problem in the packed package', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-miro-pack-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root, encoding: 'utf8' })) as Array<{ filename: string }>
  const tarball = join(dir, packed[0]!.filename)

  // Every entry point (".", "./sandbox") under node10, node16 from CJS and ESM, and bundler.
  const attw = spawnSync(join(root, 'node_modules', '.bin', 'attw'), [tarball, '--format', 'json'], { encoding: 'utf8' })
  const report = JSON.parse(attw.stdout) as { analysis: { problems: unknown[], entrypoints: Record<string, unknown> } }
  t.same(Object.keys(report.analysis.entrypoints).sort(), ['.', './package.json', './sandbox'])
  t.same(report.analysis.problems, [], 'attw: no problems')
  t.equal(attw.status, 0)

  type Publint = (o: { pack: { tarball: ArrayBuffer }, strict: boolean }) => Promise<{ messages: Array<{ code: string, path: string[] }> }>
  const { publint } = await import('publint') as { publint: Publint }
  const bytes = readFileSync(tarball)
  const { messages } = await publint({ pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) }, strict: true })
  // publint reads dist/index.js as text and sees TypeScript's `__esModule` mark beside
  // `exports.default`. At run time `module.exports` is replaced by the plugin, which carries no
  // `__esModule`, so a bundler's default import is the plugin too (checked below).
  const falsePositive = (m: { code: string, path: string[] }): boolean =>
    m.code === 'CJS_WITH_ESMODULE_DEFAULT_EXPORT' && m.path.join('/') === 'exports/./default'
  t.same(messages.filter((m) => !falsePositive(m)), [], 'publint: nothing else')
  t.equal(node(['-e', "console.log(String(require('fastify-miro').__esModule), require('fastify-miro').default === require('fastify-miro'))"]), 'undefined true')
})
