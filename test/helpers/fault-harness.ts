// The fault suite's harness (test/faults/): a world of real parts (the sandbox, a private
// redis-server, a probe connection of our own), app instances in this process and in child
// processes, users logged in through the sandbox, a bounded load, and the one figure that
// matters: how many users were logged out once the fault is over.
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox, type SandboxOptions } from '../../sandbox/index'
import { REDIRECT_URL } from './app'
import { buildFaultApp, type FaultAppOptions, type MiroEndpoint } from './fault-app'
import { killProcess, startPrivateRedis, type RedisServer } from './redis'
import { PAST } from './expiry'

export const PREFIX = 'miro:token:'

export interface World {
  sandbox: Sandbox
  redis: RedisServer
  /** Our own connection, for reading keys and injecting faults (it survives CLIENT KILL SKIPME). */
  probe: Redis
}

/** A sandbox and a private redis-server (AOF fsync always when persistent), stopped at teardown. */
export async function startWorld (t: Test, opts: { persistent?: boolean, sandbox?: SandboxOptions } = {}): Promise<World> {
  const sandbox = await startSandbox(opts.sandbox)
  const redis = await startPrivateRedis({ persistent: opts.persistent === true })
  const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  probe.on('error', () => {}) // it sees the outages too
  t.teardown(async () => {
    probe.disconnect()
    const pid = redis.pid
    try {
      if (pid !== undefined) process.kill(pid, 'SIGCONT') // a test that failed mid-stall leaves it paused
    } catch {}
    await redis.stop()
    await sandbox.close()
  })
  return { sandbox, redis, probe }
}

/** The sandbox's endpoint for an app instance. */
export function sandboxEndpoint (sandbox: Sandbox, url = sandbox.url): MiroEndpoint {
  return { url, clientId: sandbox.clientId, clientSecret: sandbox.clientSecret }
}

// ---------------------------------------------------------------------------------------------
// App instances

export interface Answer {
  /** 0: no answer within the time limit, or the connection failed (code says which). */
  status: number
  code: string | undefined
  /** The answer's Location (a guard redirect). */
  location: string | undefined
  body: string
}

export interface SendOptions {
  method?: 'GET' | 'POST'
  body?: unknown
  accept?: string
  /** Give up waiting after this long (status 0, code 'no answer'); default 15 s. */
  timeoutMs?: number
}

export interface Instance {
  readonly name: string
  send (path: string, user: string, opts?: SendOptions): Promise<Answer>
}

function codeOf (body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code
    return typeof code === 'string' ? code : undefined
  } catch {
    return undefined
  }
}

/** Races `work` against a timer; the work goes on in the background (its answer is then dropped). */
async function withDeadline (work: Promise<Answer>, ms: number): Promise<Answer> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<Answer>((resolve) => {
    timer = setTimeout(() => resolve({ status: 0, code: 'no answer', location: undefined, body: '' }), ms)
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

export interface InProcessInstance extends Instance {
  readonly app: FastifyInstance
}

/** A Fastify instance in this process (requests through app.inject), closed at teardown. */
export async function inProcessInstance (t: Test, name: string, opts: FaultAppOptions): Promise<InProcessInstance> {
  const app = await buildFaultApp(opts)
  await app.ready()
  t.teardown(() => app.close())
  return {
    name,
    app,
    send (path, user, o = {}) {
      const work = app.inject({
        method: o.method ?? 'GET',
        url: path,
        headers: { 'x-user': user, ...(o.accept ? { accept: o.accept } : {}) },
        ...(o.body === undefined ? {} : { payload: o.body as Record<string, unknown> })
      }).then(
        (res) => ({ status: res.statusCode, code: codeOf(res.body), location: res.headers.location as string | undefined, body: res.body }),
        (err: Error) => ({ status: 0, code: `inject failed: ${err.name}`, location: undefined, body: '' }))
      return withDeadline(work, o.timeoutMs ?? 15_000)
    }
  }
}

export interface ChildInstance extends Instance {
  readonly pid: number
  /** SIGKILL, and wait until the process is gone. */
  kill (): Promise<void>
  readonly stderr: string
}

const CHILD = join(__dirname, 'fault-child.ts')

/**
 * The same app in a child process: `process.execPath` with `process.execArgv`, so the
 * TypeScript loader tap runs this file with carries over. Killed at teardown.
 */
export async function childInstance (t: Test, name: string, opts: FaultAppOptions): Promise<ChildInstance> {
  const child: ChildProcess = spawn(process.execPath, [...process.execArgv, CHILD, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const kill = (): Promise<void> => killProcess(child)
  t.teardown(kill)
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s: ${stderr}`)), 30_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /PORT (\d+)\n/.exec(out)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code}: ${stderr}`))
    })
  })
  const agent = new Agent({ keepAlive: true, maxSockets: 64 })
  t.teardown(() => agent.destroy())
  return {
    name,
    pid: child.pid as number,
    kill,
    get stderr () { return stderr },
    send (path, user, o = {}) {
      const payload = o.body === undefined ? undefined : JSON.stringify(o.body)
      const work = new Promise<Answer>((resolve) => {
        const req = httpRequest({
          host: '127.0.0.1',
          port,
          agent,
          method: o.method ?? 'GET',
          path,
          headers: {
            'x-user': user,
            ...(o.accept ? { accept: o.accept } : {}),
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) })
          }
        }, (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => { body += chunk })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, code: codeOf(body), location: res.headers.location, body }))
          res.on('error', () => resolve({ status: 0, code: 'connection lost', location: undefined, body }))
        })
        req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, code: err.code ?? 'connection failed', location: undefined, body: '' }))
        req.setTimeout(o.timeoutMs ?? 15_000, () => req.destroy())
        req.end(payload)
      })
      return withDeadline(work, (o.timeoutMs ?? 15_000) + 100)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Users

export interface User {
  /** The app's user id (the `x-user` header). */
  id: string
  /** Miro's id of that user in the sandbox. */
  miroUserId: string
}

export const tokenKeyOf = (user: User): string => PREFIX + '{' + user.id + '}'

/** Every key Redis holds for `user`: its token key and anything under it (locks…). SCAN, never KEYS. */
export async function keysOfUser (world: World, user: User): Promise<string[]> {
  const found: string[] = []
  for (const pattern of [tokenKeyOf(user), tokenKeyOf(user) + ':*']) {
    let cursor = '0'
    do {
      const [next, keys] = await world.probe.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      found.push(...keys)
      cursor = next
    } while (cursor !== '0')
  }
  return found.sort()
}

/** A code from the sandbox's consent page, approved as the Miro user named `name` (created when new). */
export async function codeFor (sandbox: Sandbox, name: string): Promise<string> {
  const url = new URL('/oauth/authorize', sandbox.url)
  url.search = new URLSearchParams({ response_type: 'code', client_id: sandbox.clientId, redirect_uri: REDIRECT_URL }).toString()
  const code = new URL(await sandbox.approve(url.toString(), { userName: name })).searchParams.get('code')
  if (!code) throw new Error('the sandbox did not answer with a code')
  return code
}

/** `count` users, each its own Miro user, logged in through `via` (a real code exchange), 5 at a time. */
export async function loginUsers (world: World, via: Instance, count: number, tag: string): Promise<User[]> {
  const ids = Array.from({ length: count }, (_, i) => ({ id: `${tag}-${i}`, miroUserId: '' }))
  return eachUser(ids, 5, async ({ id }) => {
    const login = await via.send('/login', id, { method: 'POST', body: { code: await codeFor(world.sandbox, id) } })
    if (login.status !== 200) throw new Error(`login of ${id} answered ${login.status} ${login.code ?? ''}`)
    const miroUserId = world.sandbox.users.find((u) => u.name === id)?.id
    if (miroUserId === undefined) throw new Error(`the sandbox has no user ${id}`)
    return { id, miroUserId }
  })
}

/**
 * Moves the stored expiry of each user into the past (what an hour of waiting does), so their
 * next request refreshes. Returns the users whose state was not there.
 */
export async function expireStored (world: World, users: User[]): Promise<User[]> {
  const missing: User[] = []
  for (const user of users) {
    const raw = await world.probe.get(tokenKeyOf(user))
    if (raw === null) {
      missing.push(user)
      continue
    }
    const state = JSON.parse(raw) as Record<string, unknown>
    await world.probe.set(tokenKeyOf(user), JSON.stringify({ ...state, tokenExpiresAt: PAST() }), 'KEEPTTL')
  }
  return missing
}

// ---------------------------------------------------------------------------------------------
// Faults on Redis

/** SIGSTOP: the server stops answering, its connections stay open (a stalled, half-open link). */
export function pauseRedis (redis: RedisServer): void {
  const pid = redis.pid
  if (pid === undefined) throw new Error('redis-server is not running')
  process.kill(pid, 'SIGSTOP')
}

export function resumeRedis (redis: RedisServer): void {
  const pid = redis.pid
  if (pid === undefined) throw new Error('redis-server is not running')
  process.kill(pid, 'SIGCONT')
}

/** Drops every client connection but the probe's own: the apps see a connection reset. */
export async function dropConnections (world: World): Promise<number> {
  return Number(await world.probe.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'))
}

/** Waits until Redis answers PING again (after a restart). */
export async function waitForRedis (world: World, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs
  for (;;) {
    try {
      if (await world.probe.ping() === 'PONG') return
    } catch {}
    if (Date.now() > deadline) throw new Error('Redis did not come back')
    await sleep(20)
  }
}

// ---------------------------------------------------------------------------------------------
// Load

export interface Sample {
  user: string
  instance: string
  start: number
  end: number
  status: number
  code: string | undefined
}

export interface LoadPlan {
  instances: Instance[]
  users: User[]
  perUser: number
  /** Requests are spread evenly over this time (an open loop: a slow answer does not slow the pace). */
  durationMs: number
  /** At most this many unanswered at a time. */
  maxInFlight: number
  /** Default '/me' (the guard: it refreshes an expired token). */
  path?: string
  /** Per request; default 8 s. */
  requestTimeoutMs?: number
  /**
   * Default false: requests interleave all users from the start (every user's token is due at
   * once). True: user u starts at u/users of the way in, so refreshes happen all along the load.
   */
  staggered?: boolean
}

interface Slot { at: number, user: User, instance: Instance }

function schedule (plan: LoadPlan): Slot[] {
  const slots: Slot[] = []
  const { users, instances, perUser, durationMs } = plan
  const total = users.length * perUser
  for (let n = 0; n < total; n++) {
    const instance = instances[n % instances.length] as Instance
    if (plan.staggered) {
      const u = n % users.length
      const k = Math.floor(n / users.length)
      const span = durationMs / 4 // each user's requests cover a quarter of the load
      const at = (u / users.length) * (durationMs - span) + (k / perUser) * span
      slots.push({ at, user: users[u] as User, instance })
    } else {
      slots.push({ at: (n / total) * durationMs, user: users[n % users.length] as User, instance })
    }
  }
  return slots.sort((a, b) => a.at - b.at)
}

/** Runs the plan; resolves once every request has answered or timed out. Bounded in count and time. */
export async function runLoad (plan: LoadPlan): Promise<Sample[]> {
  const slots = schedule(plan)
  const samples: Sample[] = []
  const inflight = new Set<Promise<void>>()
  const began = Date.now()
  const timeout = plan.requestTimeoutMs ?? 8000
  // Never run much longer than planned, whatever the system under test does.
  const hardDeadline = began + plan.durationMs + timeout + 5000
  for (const slot of slots) {
    const wait = began + slot.at - Date.now()
    if (wait > 0) await sleep(wait)
    while (inflight.size >= plan.maxInFlight && Date.now() < hardDeadline) await sleep(1)
    if (Date.now() >= hardDeadline) break
    const start = Date.now()
    const done = slot.instance.send(plan.path ?? '/me', slot.user.id, { timeoutMs: timeout }).then((answer) => {
      samples.push({ user: slot.user.id, instance: slot.instance.name, start, end: Date.now(), status: answer.status, code: answer.code })
    })
    inflight.add(done)
    done.finally(() => inflight.delete(done)).catch(() => {})
  }
  await Promise.all(inflight)
  return samples
}

/** "200": n, "503 FST_MIRO_STORAGE_UNAVAILABLE": m, … */
export function byStatus (samples: Array<Pick<Sample, 'status' | 'code'>>): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const s of samples) {
    const key = s.status === 200 ? '200' : `${s.status} ${s.code ?? ''}`.trim()
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

// ---------------------------------------------------------------------------------------------
// The figure: users logged out

const TRANSIENT = new Set([0, 502, 503, 504])

/** Retries a guarded request while the answer is an outage (not a verdict) until 200, a verdict or the deadline. */
async function settle (via: Instance, user: User, deadline: number): Promise<Answer> {
  for (;;) {
    const answer = await via.send('/boards', user.id, { timeoutMs: Math.max(1000, deadline - Date.now()) })
    if (answer.status === 200 || !TRANSIENT.has(answer.status) || Date.now() >= deadline) return answer
    await sleep(100)
  }
}

async function eachUser<T> (users: User[], limit: number, work: (user: User, i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(users.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, users.length) }, async () => {
    for (;;) {
      const i = next++
      if (i >= users.length) return
      out[i] = await work(users[i] as User, i)
    }
  }))
  return out
}

export interface LossReport {
  /** Users logged out: either check below failed. */
  loggedOut: string[]
  /** User → the answer of their guarded request through the instances of the scenario, when not 200. */
  guarded: Record<string, string>
  /** User → why their stored state is not a live login: gone, or its refresh token dead (401 on refresh). */
  stored: Record<string, string>
}

/**
 * Once the fault is over and everything is healthy again, is each user still logged in?
 * 1. A guarded request with a Miro API call, through the scenario's instances, answers 200
 *    (outage answers are retried until `limitMs`).
 * 2. What is stored is a live login on its own: every stored state is expired again and a
 *    guarded request through `fresh` (an instance with no memory of the scenario) must refresh
 *    it from the stored refresh token and answer 200. A state that is gone or holds a refresh
 *    token Miro already rotated fails here.
 * Miro's token endpoint must be healthy (no fault) when this runs.
 */
export async function usersLoggedOut (world: World, users: User[], via: Instance[], fresh: Instance, limitMs = 20_000): Promise<LossReport> {
  const guarded: Record<string, string> = {}
  const stored: Record<string, string> = {}
  const deadline = Date.now() + limitMs
  await eachUser(users, 10, async (user, i) => {
    const answer = await settle(via[i % via.length] as Instance, user, deadline)
    if (answer.status !== 200) guarded[user.id] = `${answer.status} ${answer.code ?? ''}`.trim()
  })
  for (const user of await expireStored(world, users)) stored[user.id] = 'state gone'
  const freshDeadline = Date.now() + limitMs
  await eachUser(users.filter((u) => stored[u.id] === undefined), 10, async (user) => {
    const answer = await settle(fresh, user, freshDeadline)
    if (answer.status !== 200) stored[user.id] = `refresh from the stored state: ${answer.status} ${answer.code ?? ''}`.trim()
  })
  const loggedOut = users.map((u) => u.id).filter((id) => guarded[id] !== undefined || stored[id] !== undefined)
  return { loggedOut, guarded, stored }
}

/** The loss as figures: how many, and why, counted by reason (no per-user lists in the logs). */
export function lossFigures (loss: LossReport): Record<string, unknown> {
  const count = (reasons: Record<string, string>): Record<string, number> => {
    const counts: Record<string, number> = {}
    for (const reason of Object.values(reasons)) counts[reason] = (counts[reason] ?? 0) + 1
    return counts
  }
  return { loggedOut: loss.loggedOut.length, guardedAfter: count(loss.guarded), storedAfter: count(loss.stored) }
}

// ---------------------------------------------------------------------------------------------
// Figures

export interface TokenCallCounts { refresh: number, refreshOk: number, refreshFailed: Record<string, number>, other: number }

/** Token calls the sandbox answered from index `since` on. */
export function tokenCallsSince (sandbox: Sandbox, since: number): TokenCallCounts {
  const counts: TokenCallCounts = { refresh: 0, refreshOk: 0, refreshFailed: {}, other: 0 }
  for (const call of sandbox.tokenCalls.slice(since)) {
    if (call.grantType !== 'refresh_token') {
      counts.other++
      continue
    }
    counts.refresh++
    if (call.ok) counts.refreshOk++
    else counts.refreshFailed[call.error ?? String(call.status)] = (counts.refreshFailed[call.error ?? String(call.status)] ?? 0) + 1
  }
  return counts
}

/**
 * Prints a scenario's figures as one comment line (CI logs show it), and appends them as a JSON
 * line to $FAULTS_REPORT when set (for the bench and the notes).
 */
export function reportFigures (t: Test, scenario: string, figures: Record<string, unknown>): void {
  t.comment(`${scenario}: ${JSON.stringify(figures)}`)
  const file = process.env.FAULTS_REPORT
  if (file) appendFileSync(file, JSON.stringify({ scenario, at: new Date().toISOString(), ...figures }) + '\n')
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
