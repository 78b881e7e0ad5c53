// Fault 9, on the default backend (tokens in the session): two loads of one browser, 0–2 ms
// apart, when the token is due: a page (the guard and a Miro API call) and a light request (the
// guard only), in both orders. @fastify/session (rolling: true, its default) saves the whole
// session after every response, so a load that read the session before the refresh and answers
// after it can save its stale copy over the new pair. Measured before the fix: 2 of 6 runs of
// the example app logged the user out. Also with two instances sharing one session store.
// Must hold: both loads answer 200, and afterwards the next refresh works from what was saved
// (the user is still logged in), in every run.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { MemoryStore } from '@fastify/session'
import { startSandbox, type Sandbox } from '../../sandbox/index'
import { Browser, buildApp } from '../helpers/app'
import { byStatus, reportFigures, tokenCallsSince } from '../helpers/fault-harness'
import { PAST } from '../helpers/expiry'

/** gap 0, 1, 2 ms × both orders, twice. */
const RUNS = 12

async function sessionApp (t: Test, sandbox: Sandbox, store?: InstanceType<typeof MemoryStore>): Promise<FastifyInstance> {
  const app = await buildApp({ sandbox, ...(store ? { sessionStore: store } : {}) })
  t.teardown(() => app.close())
  // A page that needs Miro: the guard, then one API call.
  app.get('/page', { preHandler: app.miro.requireAuth }, async (request) => {
    const names: string[] = []
    for await (const board of request.miroApi().getAllBoards()) names.push(board.name ?? '')
    return names
  })
  app.get('/light', { preHandler: app.miro.requireAuth }, async () => 'ok')
  // What an hour of waiting does to the stored token.
  app.post('/expire', async (request) => {
    const id = app.miro.userIdOf(request) as string
    const state = await request.miro.getState(id)
    if (state === undefined) return 'no state'
    await request.miro.setState(id, { ...state, tokenExpiresAt: PAST() })
    return 'expired'
  })
  return app
}

async function overlapRuns (t: Test, name: string, shared: boolean): Promise<void> {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const store = shared ? new MemoryStore() : undefined
  const first = await sessionApp(t, sandbox, store)
  const second = shared ? await sessionApp(t, sandbox, store) : first
  const since = sandbox.tokenCalls.length
  const loads: Array<{ statusCode: number, headers: Record<string, unknown>, body: string }> = []
  const loggedOutRuns: number[] = []
  const checks: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const browser = new Browser(first)
    const login = await browser.login(sandbox)
    t.equal(login.statusCode, 302, `run ${run}: logged in`)
    t.equal((await browser.request({ method: 'POST', url: '/expire' })).body, 'expired', `run ${run}: token due`)
    const headers = { cookie: browser.cookieHeader, accept: 'text/html' }
    const gap = run % 3
    const [urlA, urlB] = run % 2 === 0 ? ['/page', '/light'] : ['/light', '/page']
    const a = first.inject({ url: urlA, headers })
    if (gap > 0) await sleep(gap)
    const b = second.inject({ url: urlB, headers })
    loads.push(...await Promise.all([a, b]))
    // Still logged in = the next refresh works from what was saved.
    await browser.request({ method: 'POST', url: '/expire' })
    const check = await browser.get('/page', { accept: 'text/html' })
    checks.push(check.statusCode)
    if (check.statusCode !== 200) loggedOutRuns.push(run)
  }
  reportFigures(t, `session backend, two loads 0–2 ms apart at expiry (${name})`, {
    runs: RUNS,
    loads: byStatus(loads.map((l) => ({ status: l.statusCode, code: undefined }))),
    runsLoggedOut: loggedOutRuns.length,
    which: loggedOutRuns,
    checkAnswers: byStatus(checks.map((status) => ({ status, code: undefined }))),
    tokenCalls: tokenCallsSince(sandbox, since)
  })
  t.same(loads.map((l) => l.statusCode), loads.map(() => 200), 'both loads of every run answer 200')
  t.same(loggedOutRuns, [], 'no run logged the user out')
}

t.test('one instance', (t) => overlapRuns(t, 'one instance', false))
t.test('two instances sharing one session store', (t) => overlapRuns(t, 'two instances, one store', true))
