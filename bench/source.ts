// Which plugin code was measured: the commit, and the plugin files changed since (the bench
// builds the working tree, which other people may be editing).
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

const ROOT = join(__dirname, '..', '..')

function git (...args: string[]): string | undefined {
  const out = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' })
  return out.status === 0 ? out.stdout.trim() : undefined
}

export function sourceState (): string {
  const commit = git('rev-parse', '--short', 'HEAD')
  if (commit === undefined) return 'not a git checkout'
  const changed = (git('status', '--porcelain', '--', 'index.ts', 'lib') ?? '').split('\n').filter(Boolean).map((l) => l.slice(3))
  return `commit ${commit}` + (changed.length ? ` + uncommitted changes to ${changed.join(', ')}` : ', plugin files unchanged')
}
