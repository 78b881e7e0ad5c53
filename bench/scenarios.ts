// What is measured: the throughput scenarios (each with the reference it is compared to),
// the groups run interleaved, and the goals.

export interface Scenario {
  /** Server name in servers/catalog.ts. */
  server: string
  label: string
  /** Needs the bench's Redis. */
  redis: boolean
  /** The body every request must get (checked once before the load). */
  body: string
}

/** Scenarios run interleaved (A B C A B C …); the first one is the group's reference. */
export interface Group {
  title: string
  scenarios: Scenario[]
}

/** candidate req/s ÷ reference req/s must be ≥ target. */
export interface Goal {
  id: string
  title: string
  candidate: string
  reference: string
  target: number
  /** Also profiled when the goal is missed: servers that tell where the gap comes from. */
  alsoProfile?: string[]
  /**
   * Which runs judge the goal. 'paired' (paired.ts) for a candidate and reference built on the
   * same stack, where an A/A pair shows the method resolves ~1 %. 'interleaved' across stacks:
   * sharing one core, Express and Fastify do not disturb each other alike (caches, Express's
   * busier GC threads), so a paired ratio there measures that interference too.
   */
  judgedBy: 'paired' | 'interleaved'
}

const SESSION_BODY = '{"user":"bench-user"}'
const AUTH_BODY = '{"authorized":true}'

const S = {
  sessionRef: { server: 'session-reference', label: '1. Fastify + cookie + session (reference)', redis: false, body: SESSION_BODY },
  sessionPlugin: { server: 'session-plugin', label: '2. … + fastify-miro registered, unused', redis: false, body: SESSION_BODY },
  redisPlain: { server: 'redis-plain', label: '3r. Fastify, ioredis GET + JSON.parse (reference)', redis: true, body: AUTH_BODY },
  redisPlugin: { server: 'redis-plugin', label: '3. fastify-miro isAuthorized, redis', redis: true, body: AUTH_BODY },
  redisRecipe: { server: 'redis-express-recipe', label: '4. Express 5 + express-session + SDK RedisStorage', redis: true, body: AUTH_BODY },
  sessionAuthRecipe: { server: 'session-auth-express-recipe', label: '5r. Express 5 + express-session, SDK inline storage (reference)', redis: false, body: AUTH_BODY },
  sessionAuthByHand: { server: 'session-auth-by-hand', label: '5h. Fastify + session, same state read by hand (no plugin)', redis: false, body: AUTH_BODY },
  sessionAuthPlugin: { server: 'session-auth-plugin', label: '5. fastify-miro isAuthorized, session', redis: false, body: AUTH_BODY }
} satisfies Record<string, Scenario>

export const GROUPS: Group[] = [
  { title: 'Cost of registering fastify-miro', scenarios: [S.sessionRef, S.sessionPlugin] },
  { title: 'isAuthorized on Redis', scenarios: [S.redisPlain, S.redisPlugin, S.redisRecipe] },
  { title: 'isAuthorized on the session', scenarios: [S.sessionAuthRecipe, S.sessionAuthByHand, S.sessionAuthPlugin] }
]

export const GOALS: Goal[] = [
  {
    id: 'G1',
    title: 'Registering fastify-miro (route never reads request.miro) costs ≤ 3 %',
    candidate: S.sessionPlugin.server,
    reference: S.sessionRef.server,
    target: 0.97,
    judgedBy: 'paired'
  },
  {
    id: 'G2',
    title: 'isAuthorized on Redis ≥ 0.95 × a plain ioredis GET + JSON.parse route',
    candidate: S.redisPlugin.server,
    reference: S.redisPlain.server,
    target: 0.95,
    judgedBy: 'paired'
  },
  {
    id: 'G3',
    title: 'fastify-miro on Redis ≥ 4 × the Express + express-session + RedisStorage recipe',
    candidate: S.redisPlugin.server,
    reference: S.redisRecipe.server,
    target: 4,
    judgedBy: 'interleaved'
  },
  {
    id: 'G4',
    title: 'fastify-miro on the session ≥ 3 × the Express + express-session inline-storage recipe',
    candidate: S.sessionAuthPlugin.server,
    reference: S.sessionAuthRecipe.server,
    target: 3,
    alsoProfile: [S.sessionAuthByHand.server],
    judgedBy: 'interleaved'
  }
]

export const SOAK_SERVER = S.redisPlugin.server
export const STORM_SERVERS = { plugin: 'storm-plugin', recipe: 'storm-express-recipe' }
