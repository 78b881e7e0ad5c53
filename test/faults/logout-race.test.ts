// Fault 5: logout racing a refresh. The refresh is at Miro (rotated at once, answered 400 ms
// later through a slow link) when the user logs out, through the plugin's logout route or
// request.miro.revokeToken(). Measured before the fix: the refresh writes its new pair back
// after the logout, unrevoked at Miro; the user is logged in again.
// Must hold, once the logout has resolved and the racing refresh has settled: no key of the
// user in Redis, no token Miro issued to them still live (the racing refresh's included), and
// a guarded request answers 401.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  byStatus, expireStored, inProcessInstance, keysOfUser, loginUsers, reportFigures, sandboxEndpoint, startWorld, tokenCallsSince,
  type Answer
} from '../helpers/fault-harness'
import { startLateAnswerProxy } from '../helpers/fault-net'

const USERS = 10
const ANSWER_DELAY_MS = 400
/** How long what a racing refresh set off (a write, a revocation) may take once its answer is in. */
const SETTLE_MS = 2000
/** The logout starts this long after the refresh, spread over the time Miro's answer is late. */
const offsetOf = (i: number): number => 40 + Math.round((i * (ANSWER_DELAY_MS - 80)) / (USERS - 1))

t.test('logout racing a refresh', async (t) => {
  const world = await startWorld(t)
  const { sandbox, redis } = world
  const proxy = await startLateAnswerProxy(sandbox.url)
  t.teardown(() => proxy.close())
  const app = await inProcessInstance(t, 'app', { miro: sandboxEndpoint(sandbox, proxy.url), redisUrl: redis.url, routes: true })
  const users = await loginUsers(world, app, USERS, 'race')
  t.same(await expireStored(world, users), [], 'every user logged in')
  const since = sandbox.tokenCalls.length
  const answered = proxy.answers.length // the logins' code exchanges went through the proxy too
  proxy.holdTokenAnswers({ ms: ANSWER_DELAY_MS, times: USERS })

  const outcomes = await Promise.all(users.map(async (user, i) => {
    const refresh = app.send('/me', user.id)
    await sleep(offsetOf(i))
    // Half through the plugin's logout route, half through revokeToken() in a route of the app.
    const logout = await app.send(i % 2 === 0 ? '/auth/miro/logout' : '/logout', user.id, { method: 'POST' })
    return { logout, refresh: await refresh }
  }))
  // The racing refreshes have settled once Miro's late answers are out and what they caused is
  // done: wait for the answers, then up to SETTLE_MS for the last writes and revocations.
  const deadline = Date.now() + 5000
  while (proxy.answers.length - answered < USERS && Date.now() < deadline) await sleep(20)
  const settleBy = Date.now() + SETTLE_MS
  const settled = async (): Promise<boolean> => {
    for (const user of users) {
      if (sandbox.accessTokensOf(user.miroUserId).length > 0 || (await keysOfUser(world, user)).length > 0) return false
    }
    return true
  }
  while (Date.now() < settleBy && !await settled()) await sleep(50)

  const after: Record<string, { keys: string[], liveTokens: number, guarded: Answer }> = {}
  const loggedInAgain: string[] = []
  for (const user of users) {
    const keys = await keysOfUser(world, user)
    const liveTokens = sandbox.accessTokensOf(user.miroUserId).length
    const guarded = await app.send('/me', user.id)
    after[user.id] = { keys, liveTokens, guarded }
    if (keys.length > 0 || liveTokens > 0 || guarded.status !== 401) loggedInAgain.push(user.id)
  }
  reportFigures(t, `logout racing a refresh answered ${ANSWER_DELAY_MS} ms late`, {
    users: USERS,
    logoutAnswers: byStatus(outcomes.map((o) => o.logout)),
    racingRefreshAnswers: byStatus(outcomes.map((o) => o.refresh)),
    refreshAnswersReleased: proxy.answers.length - answered,
    loggedInAgain: loggedInAgain.length,
    keysLeft: Object.values(after).reduce((n, a) => n + a.keys.length, 0),
    usersWithLiveTokens: Object.values(after).filter((a) => a.liveTokens > 0).length,
    guardedAfter: byStatus(Object.values(after).map((a) => a.guarded)),
    tokenCalls: tokenCallsSince(sandbox, since),
    revokeCalls: sandbox.revokeCalls.length
  })

  t.same(outcomes.map((o) => o.logout.status), users.map((_, i) => i % 2 === 0 ? 204 : 200), 'every logout resolved')
  t.equal(proxy.answers.length - answered, USERS, 'every racing refresh got its answer from Miro')
  t.same(outcomes.filter((o) => o.refresh.status >= 500 && o.refresh.status !== 503).map((o) => o.refresh.status), [], 'the racing refreshes answer no 500')
  for (const user of users) {
    const a = after[user.id]!
    t.same(a.keys, [], `${user.id}: no state left in Redis`)
    t.equal(a.liveTokens, 0, `${user.id}: no token Miro issued is still live`)
    t.equal(a.guarded.status, 401, `${user.id}: a guarded request answers 401`)
  }
  t.equal(loggedInAgain.length, 0, 'nobody is logged in again')
})
