// Consumer projects for the type tests: the package as `npm pack` ships it, installed into a
// temporary node_modules beside the project's own dependencies (symlinks), and compiled with
// each TypeScript version the package supports.
import { execFile, execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

const root = join(__dirname, '..', '..')

export interface TypeScriptVersion {
  name: string
  tsc: string
  major: number
}

/**
 * TypeScript 5.9 (`typescript`) and the newest (`typescript-latest`, an npm alias in
 * devDependencies): the versions the package's types are checked against.
 */
export function typescriptVersions (): TypeScriptVersion[] {
  return ['typescript', 'typescript-latest'].map((name) => {
    let manifest: string
    try {
      manifest = require.resolve(`${name}/package.json`, { paths: [root] })
    } catch {
      throw new Error(`${name} is not installed: run npm install (it is a devDependency)`)
    }
    const version = (require(manifest) as { version: string }).version
    const major = Number(version.split('.')[0])
    // TypeScript 7's bin/tsc is an ES module without an extension, which the test runner's
    // require hooks (inherited by child processes) would load as CommonJS; lib/tsc.js is the same.
    const tsc = join(dirname(manifest), ...(major >= 7 ? ['lib', 'tsc.js'] : ['bin', 'tsc']))
    return { name: `TypeScript ${version}`, tsc, major }
  })
}

export interface Workspace {
  dir: string
  /** Writes `files` (path → text) under `dir/<name>`. */
  project (name: string, files: Record<string, string | object>): string
  remove (): void
}

/**
 * A temporary directory whose node_modules holds the packed fastify-miro and links to this
 * repository's node_modules for everything else. `npm run build` must have run.
 */
export function packedWorkspace (): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-miro-consumer-'))
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root, encoding: 'utf8' })) as Array<{ filename: string }>
  const modules = join(dir, 'node_modules')
  mkdirSync(join(modules, 'fastify-miro'), { recursive: true })
  execFileSync('tar', ['-xzf', join(dir, packed[0]!.filename), '-C', join(modules, 'fastify-miro'), '--strip-components=1'])
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name.startsWith('.') || name === 'fastify-miro') continue
    symlinkSync(join(root, 'node_modules', name), join(modules, name))
  }
  return {
    dir,
    project (name, files) {
      const projectDir = join(dir, name)
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(dirname(join(projectDir, path)), { recursive: true })
        writeFileSync(join(projectDir, path), typeof content === 'string' ? content : JSON.stringify(content, null, 2))
      }
      return projectDir
    },
    remove () { rmSync(dir, { recursive: true, force: true }) }
  }
}

/** Runs `tsc -p <project>` outside the test runner's loaders (its env); resolves with its output ('' when it compiles). */
export function compile (ts: TypeScriptVersion, projectDir: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ts.tsc, '-p', '.', '--pretty', 'false'], { cwd: projectDir, encoding: 'utf8', timeout: 120_000, env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) => {
      resolve(err ? (stdout + stderr || String(err)).trim() : '')
    })
  })
}
