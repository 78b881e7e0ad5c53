// Fault 8: Miro revokes a user's tokens behind the app's back: a logout elsewhere (Miro's
// revoke endpoint called with the user's token) or the user removing the app (the sandbox's
// revokeUser). Measured before the fix: API calls answer 401 forever while isAuthorized keeps
// saying true, because nothing notices.
// Must hold: the next API call gets 401 at Miro, the plugin refreshes once (invalid_grant),
// deletes the state and the request ends as FST_MIRO_NOT_AUTHORIZED; afterwards isAuthorized
// is false, the guard answers 401 (JSON) or redirects to the login (browsers), and no further
// token call is made however often the user comes back.
import t, { type Test } from 'tap'
import {
  byStatus, inProcessInstance, keysOfUser, loginUsers, reportFigures, sandboxEndpoint, startWorld, tokenCallsSince,
  tokenKeyOf, type Answer, type User, type World
} from '../helpers/fault-harness'

const USERS = 5
const COMEBACKS = 5

/** A logout elsewhere: Miro's v2 revoke endpoint with the user's current access token. */
async function revokeElsewhere (world: World, user: User): Promise<void> {
  const state = JSON.parse(await world.probe.get(tokenKeyOf(user)) ?? '{}') as { accessToken?: string }
  const { sandbox } = world
  const res = await fetch(`${sandbox.url}/v2/oauth/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accessToken: state.accessToken, clientId: sandbox.clientId, clientSecret: sandbox.clientSecret })
  })
  if (res.status !== 204) throw new Error(`revoke answered ${res.status}`)
}

/** The user removed the app. */
async function removeApp (world: World, user: User): Promise<void> {
  world.sandbox.revokeUser(user.miroUserId)
}

async function scenario (t: Test, how: string, revoke: (world: World, user: User) => Promise<void>): Promise<void> {
  const world = await startWorld(t)
  const { sandbox, redis } = world
  const app = await inProcessInstance(t, 'app', { miro: sandboxEndpoint(sandbox), redisUrl: redis.url, routes: true })
  const users = await loginUsers(world, app, USERS, 'revoked')
  for (const user of users) t.equal((await app.send('/boards', user.id)).status, 200, `${user.id} works before`)
  for (const user of users) await revoke(world, user)
  const since = sandbox.tokenCalls.length

  const first: Answer[] = []
  const authorized: boolean[] = []
  const guardApi: Answer[] = []
  const guardBrowser: Answer[] = []
  const comebacks: Answer[] = []
  for (const user of users) {
    first.push(await app.send('/boards', user.id))
    const answer = await app.send('/authorized', user.id)
    authorized.push(answer.status === 200 && (JSON.parse(answer.body) as { authorized: boolean }).authorized)
    guardApi.push(await app.send('/me', user.id))
    guardBrowser.push(await app.send('/me', user.id, { accept: 'text/html' }))
    for (let i = 0; i < COMEBACKS; i++) comebacks.push(await app.send('/boards', user.id))
  }
  const calls = tokenCallsSince(sandbox, since)
  const keysLeft = (await Promise.all(users.map((u) => keysOfUser(world, u)))).flat()
  reportFigures(t, `tokens revoked by Miro (${how})`, {
    users: USERS,
    firstApiCall: byStatus(first),
    isAuthorizedAfter: authorized.filter(Boolean).length + ' of ' + USERS + ' true',
    guardApi: byStatus(guardApi),
    guardBrowser: byStatus(guardBrowser),
    comebacks: byStatus(comebacks),
    tokenCalls: calls,
    keysLeft: keysLeft.length
  })

  t.same(byStatus(first), { '401 FST_MIRO_NOT_AUTHORIZED': USERS }, 'the API call after the revocation ends as FST_MIRO_NOT_AUTHORIZED')
  t.same(authorized, users.map(() => false), 'isAuthorized is false afterwards')
  t.same(byStatus(guardApi), { '401 FST_MIRO_NOT_AUTHORIZED': USERS }, 'the guard answers 401 to API callers')
  t.same(guardBrowser.map((a) => [a.status, a.location?.split('?')[0]]), users.map(() => [302, '/auth/miro']), 'and sends browsers to the login')
  t.same(byStatus(comebacks), { '401 FST_MIRO_NOT_AUTHORIZED': USERS * COMEBACKS }, 'coming back changes nothing')
  t.same(calls, { refresh: USERS, refreshOk: 0, refreshFailed: { invalid_grant: USERS }, other: 0 }, 'one refresh per user (refused), then no token call at all')
  t.same(keysLeft, [], 'the dead states are deleted')
}

t.test('a logout elsewhere (Miro\'s revoke endpoint)', (t) => scenario(t, 'logout elsewhere', revokeElsewhere))
t.test('the user removed the app (sandbox revokeUser)', (t) => scenario(t, 'revokeUser', removeApp))
