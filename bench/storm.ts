// Scenario 6, the refresh storm: one user whose access token has expired (a real login at
// the sandbox, then tokenExpiresAt moved past the refresh-ahead margin), 200 concurrent requests, and the
// sandbox's token calls counted. Run for fastify-miro and for the plain SDK recipe.
import { startSandbox, type Sandbox } from '../sandbox/index'
import { ServerChild } from './child'
import { REDIRECT_URL, STORM_USER, pluginKey, recipeKey, type StoredState } from './fixtures'
import { httpGet } from './http'
import type { BenchEnv } from './measure'
import { STORM_SERVERS } from './scenarios'

export type StormSide = keyof typeof STORM_SERVERS

export interface StormResult {
  side: StormSide
  requests: number
  ok: number
  /** Answers other than 200, by status. */
  failedByStatus: Record<string, number>
  refreshCalls: number
  refreshCallsOk: number
  /** A request after the storm still gets a token without logging in again. */
  loggedInAfter: boolean
  /** The stored access token is one the sandbox still accepts. */
  storedTokenLive: boolean
}

/**
 * The state of a fresh login at the sandbox, its stored expiry `tokenExpiresAt` (default: ten
 * minutes ago, beyond what Miro still accepts, so the storm refreshes in the foreground).
 */
export async function sandboxLogin (sandbox: Sandbox, tokenExpiresAt = new Date(Date.now() - 600_000).toISOString()): Promise<StoredState> {
  const authorize = new URL('/oauth/authorize', sandbox.url)
  authorize.search = new URLSearchParams({ response_type: 'code', client_id: sandbox.clientId, redirect_uri: REDIRECT_URL }).toString()
  const back = new URL(await sandbox.approve(authorize.toString()))
  const code = back.searchParams.get('code')
  if (!code) throw new Error('the sandbox did not redirect with a code: ' + back.toString())
  const response = await fetch(sandbox.url + '/v1/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URL, client_id: sandbox.clientId, client_secret: sandbox.clientSecret
    })
  })
  const body = await response.json() as Record<string, string | number>
  if (!response.ok) throw new Error('code exchange failed: ' + JSON.stringify(body))
  return {
    userId: String(body.user_id),
    accessToken: String(body.access_token),
    refreshToken: String(body.refresh_token),
    tokenExpiresAt,
    teamId: String(body.team_id),
    scope: String(body.scope)
  }
}

async function stormOnce (side: StormSide, env: BenchEnv): Promise<StormResult> {
  const sandbox = await startSandbox()
  let server: ServerChild | undefined
  try {
    const state = await sandboxLogin(sandbox)
    const key = side === 'plugin' ? pluginKey(STORM_USER) : recipeKey(STORM_USER)
    await env.redis.client.set(key, JSON.stringify(state))
    server = await ServerChild.start(STORM_SERVERS[side], {
      redisUrl: env.redis.url,
      sandbox: { url: sandbox.url, clientId: sandbox.clientId, clientSecret: sandbox.clientSecret }
    }, { cpus: env.serverCpus })
    const before = sandbox.tokenCalls.length
    const n = env.settings.stormConcurrency
    const url = server.url
    const answers = await Promise.all(Array.from({ length: n }, () => httpGet(url)))
    // The SDK stores a refreshed state without awaiting the write: give it time to land.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const refreshes = sandbox.tokenCalls.slice(before).filter((c) => c.grantType === 'refresh_token')
    const failedByStatus: Record<string, number> = {}
    for (const a of answers) if (a.status !== 200) failedByStatus[a.status] = (failedByStatus[a.status] ?? 0) + 1
    const after = await httpGet(url)
    const stored = await env.redis.client.get(key)
    const storedToken = stored === null ? undefined : (JSON.parse(stored) as StoredState).accessToken
    return {
      side,
      requests: n,
      ok: answers.filter((a) => a.status === 200).length,
      failedByStatus,
      refreshCalls: refreshes.length,
      refreshCallsOk: refreshes.filter((c) => c.ok).length,
      loggedInAfter: after.status === 200,
      storedTokenLive: storedToken !== undefined && sandbox.accessTokensOf(state.userId).includes(storedToken)
    }
  } finally {
    await server?.stop()
    await sandbox.close()
  }
}

/** Interleaved rounds: plugin, recipe, plugin, recipe… */
export async function runStorms (env: BenchEnv): Promise<StormResult[]> {
  const results: StormResult[] = []
  env.log('\nRefresh storm')
  for (let round = 1; round <= env.settings.stormRounds; round++) {
    for (const side of ['plugin', 'recipe'] as const) {
      const r = await stormOnce(side, env)
      results.push(r)
      env.log(`  round ${round} ${side.padEnd(7)} ${r.refreshCalls} refresh calls (${r.refreshCallsOk} ok), ` +
        `${r.requests - r.ok}/${r.requests} failed, logged in after: ${r.loggedInAfter}`)
    }
  }
  return results
}
