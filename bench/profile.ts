// Where the time goes: run one server under load with --cpu-prof, then sum the self time of
// each function (and of each package) over the profile's samples.
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { ServerChild } from './child'
import { runLoad } from './load'
import type { BenchEnv } from './measure'
import type { Scenario } from './scenarios'

/** Profiles land in bench/profiles/ (*.cpuprofile is git-ignored); open them in Chrome DevTools. */
export const PROFILE_DIR = join(__dirname, '..', '..', 'bench', 'profiles')

interface CallFrame { functionName: string, url: string, lineNumber: number, columnNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export interface SelfTime { name: string, where: string, ms: number, share: number }

export interface ProfileSummary {
  server: string
  file: string
  /** ms of samples that were not idle. */
  busyMs: number
  functions: SelfTime[]
  packages: SelfTime[]
}

// '(program)' (native work outside JS, 1–3 % of samples here) is left out with '(idle)'.
const IDLE = new Set(['(idle)', '(program)'])

/** A readable place: "fastify lib/reply.js:123", "fastify-miro lib/storage/redis.js:40", "node:internal/…". */
function placeOf (frame: CallFrame): { pkg: string, where: string } {
  const url = frame.url.replace(/^file:\/\//, '')
  const line = frame.lineNumber + 1
  if (url === '') return { pkg: '(native/V8)', where: '' }
  if (url.startsWith('node:')) return { pkg: 'node core', where: `${url}:${line}` }
  const nm = url.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    const scoped = rest[0]?.startsWith('@') === true
    const pkg = scoped ? `${rest[0]}/${rest[1]}` : rest[0] ?? '?'
    return { pkg, where: `${pkg} ${rest.slice(scoped ? 2 : 1).join('/')}:${line}` }
  }
  const dist = url.indexOf('/dist/')
  const local = dist === -1 ? url : url.slice(dist + '/dist/'.length)
  const pkg = local.startsWith('bench/') ? 'bench server' : 'fastify-miro'
  return { pkg, where: `${pkg} ${local}:${line}` }
}

export function summarize (server: string, file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const fns = new Map<string, SelfTime>()
  const pkgs = new Map<string, SelfTime>()
  let busyMs = 0
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)
    const ms = (profile.timeDeltas[i] ?? 0) / 1000
    if (node === undefined || IDLE.has(node.callFrame.functionName)) return
    busyMs += ms
    const { pkg, where } = placeOf(node.callFrame)
    const name = node.callFrame.functionName || '(anonymous)'
    const key = name + ' ' + where
    const fn = fns.get(key) ?? { name, where, ms: 0, share: 0 }
    fn.ms += ms
    fns.set(key, fn)
    const p = pkgs.get(pkg) ?? { name: pkg, where: '', ms: 0, share: 0 }
    p.ms += ms
    pkgs.set(pkg, p)
  })
  const ranked = (m: Map<string, SelfTime>, n: number): SelfTime[] =>
    [...m.values()].map((t) => ({ ...t, share: t.ms / busyMs })).sort((a, b) => b.ms - a.ms).slice(0, n)
  return { server, file, busyMs, functions: ranked(fns, top), packages: ranked(pkgs, 10) }
}

export async function profileServer (scenario: Scenario, env: BenchEnv): Promise<ProfileSummary> {
  const dir = join(PROFILE_DIR, scenario.server)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const server = await ServerChild.start(scenario.server, env.config, { execArgv: ['--cpu-prof', '--cpu-prof-dir=' + dir], cpus: env.serverCpus })
  try {
    await runLoad(server, { connections: env.settings.connections, duration: env.settings.warmupSeconds })
    await runLoad(server, { connections: env.settings.connections, duration: env.settings.profileSeconds })
  } finally {
    await server.stop()
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`no profile written for ${scenario.server}`)
  const summary = summarize(scenario.server, join(dir, file))
  env.log(`  profiled ${scenario.server}: top self time ${summary.functions.slice(0, 3).map((f) => `${f.name} ${(f.share * 100).toFixed(1)} %`).join(', ')}`)
  return summary
}
