// Builds a real app for the tests: @fastify/cookie, @fastify/session and/or @fastify/redis,
// fastify-miro pointed at a sandbox, and a cookie-keeping "browser" over app.inject().
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fastifyRedis from '@fastify/redis'
import type { MiroApi } from '@mirohq/miro-api'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import fastifyMiro, { type FastifyMiroOptions } from '../../index'
import { startSandbox, type Sandbox } from '../../sandbox/index'
import { startRedis, type RedisServer } from './redis'

export const REDIRECT_URL = 'http://localhost/auth/miro/callback'

export interface TestAppOptions {
  sandbox: Sandbox
  /** Register @fastify/session (default true). */
  session?: boolean
  /** A session store for @fastify/session (default: its in-memory store). */
  sessionStore?: unknown
  /** More @fastify/session options, e.g. saveUninitialized. */
  sessionOptions?: Record<string, unknown>
  /** Register @fastify/redis with this URL. */
  redisUrl?: string
  /** Register @fastify/redis with this client (a Cluster, say); the test closes it. */
  redisClient?: unknown
  miro?: FastifyMiroOptions
  /** Collects every log line (level trace) when given. */
  logLines?: string[]
}

export async function buildApp (opts: TestAppOptions): Promise<FastifyInstance> {
  const logLines = opts.logLines
  const app = Fastify(logLines
    ? { logger: { level: 'trace', stream: { write: (line: string) => { logLines.push(line) } } } }
    : {})
  await app.register(fastifyCookie, { secret: 'cookie-secret-for-tests-only-0123456789' })
  if (opts.session !== false) {
    await app.register(fastifySession, {
      secret: 'session-secret-for-tests-only-0123456789',
      cookie: { secure: false },
      ...(opts.sessionStore ? { store: opts.sessionStore as never } : {}),
      ...opts.sessionOptions
    })
  }
  if (opts.redisUrl) await app.register(fastifyRedis, { url: opts.redisUrl })
  if (opts.redisClient) await app.register(fastifyRedis, { client: opts.redisClient as never, closeClient: false })
  await app.register(fastifyMiro, {
    clientId: opts.sandbox.clientId,
    clientSecret: opts.sandbox.clientSecret,
    redirectUrl: REDIRECT_URL,
    basePath: opts.sandbox.url,
    ...opts.miro
  })
  return app
}

/**
 * Keeps cookies between injected requests, like a browser: values exactly as the server sent
 * them (still percent-encoded), sent back unchanged.
 */
export class Browser {
  /** name → raw (encoded) value. */
  readonly cookies = new Map<string, string>()
  constructor (private readonly app: FastifyInstance) {}

  get cookieHeader (): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  async request (opts: InjectOptions): Promise<LightMyRequestResponse> {
    const cookie = this.cookieHeader
    const res = await this.app.inject({ ...opts, headers: { ...(cookie ? { cookie } : {}), ...opts.headers } })
    const setCookie = res.headers['set-cookie']
    for (const line of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const [pair = '', ...attributes] = line.split(';')
      const eq = pair.indexOf('=')
      if (eq < 1) continue
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const gone = value === '' || attributes.some((a) => {
        const [key = '', val = ''] = a.split('=', 2).map((part) => part.trim())
        if (key.toLowerCase() === 'max-age') return Number(val) <= 0
        if (key.toLowerCase() === 'expires') return Date.parse(val) <= Date.now()
        return false
      })
      if (gone) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    return res
  }

  get (url: string, headers?: Record<string, string>): Promise<LightMyRequestResponse> {
    return this.request({ method: 'GET', url, ...(headers ? { headers } : {}) })
  }

  /** The full login: login route → sandbox consent (Allow) → callback. Returns the callback's answer. */
  async login (sandbox: Sandbox, loginUrl = '/auth/miro', userName?: string): Promise<LightMyRequestResponse> {
    const start = await this.get(loginUrl)
    if (start.statusCode !== 302) throw new Error(`login route answered ${start.statusCode}: ${start.body}`)
    const back = await sandbox.approve(String(start.headers.location), userName ? { userName } : {})
    return this.get(pathOf(back))
  }
}

/** Path and query of an absolute URL (the app is reached through inject). */
export function pathOf (url: string): string {
  const u = new URL(url)
  return u.pathname + u.search
}

/** A fresh authorization code from the sandbox's consent page (Allow), for a direct exchange. */
export async function freshCode (sandbox: Sandbox, redirectUrl = REDIRECT_URL): Promise<string> {
  const url = new URL('/oauth/authorize', sandbox.url)
  url.search = new URLSearchParams({ response_type: 'code', client_id: sandbox.clientId, redirect_uri: redirectUrl }).toString()
  return new URL(await sandbox.approve(url.toString())).searchParams.get('code') ?? ''
}

/** The names of the boards the Miro API returns (every page of getAllBoards). */
export async function boardNames (api: MiroApi): Promise<string[]> {
  const names: string[] = []
  for await (const board of api.getAllBoards()) names.push(board.name ?? '')
  return names
}

/** A sandbox, and a Redis with a probe connection, emptied; all stopped at teardown. */
export async function sandboxAndRedis (t: Test): Promise<{ sandbox: Sandbox, redis: RedisServer, probe: Redis }> {
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await redis.stop() })
  await probe.flushall()
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  return { sandbox, redis, probe }
}
