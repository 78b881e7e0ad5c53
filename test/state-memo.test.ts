// StateMemo (lib/state-memo.ts): what a client remembers of its users' states stays bounded,
// is never served once the token needs a refresh, and not past maxAgeMs (an app-level client).
import t from 'tap'
import { MEMO_USERS, StateMemo } from '../lib/state-memo'
import type { MiroTokenState } from '../lib/state'
import { IN_MARGIN } from './helpers/expiry'

const FUTURE = new Date(Date.now() + 3_000_000).toISOString()
const state = (n: number, tokenExpiresAt = FUTURE): MiroTokenState => ({ userId: 'm' + n, accessToken: 'a' + n, refreshToken: 'r' + n, tokenExpiresAt })

t.test('bounded: a handful of users, the oldest goes first', async (t) => {
  const memo = new StateMemo()
  for (let i = 0; i < 50; i++) memo.remember('u' + i, state(i))
  t.equal(memo.size, MEMO_USERS)
  t.equal(memo.fresh('u0'), undefined, 'the first users were dropped')
  t.equal(memo.fresh('u49')?.accessToken, 'a49', 'the last one is there')
})

t.test('never served once the token needs a refresh; undefined forgets', async (t) => {
  const memo = new StateMemo()
  memo.remember('u', state(1, IN_MARGIN()))
  t.equal(memo.fresh('u'), undefined, 'an expired state is not served (the caller reads storage)')
  t.equal(memo.size, 0, 'and it is dropped')
  memo.remember('u', state(2))
  t.equal(memo.fresh('u')?.accessToken, 'a2')
  const later = Date.parse(FUTURE) + 1
  t.equal(memo.fresh('u', later), undefined, 'the same state once its expiry passed')
  memo.remember('v', state(3))
  memo.remember('v', undefined)
  t.equal(memo.fresh('v'), undefined)
})

t.test('maxAgeMs: a long-lived client reads storage again after it', async (t) => {
  const memo = new StateMemo(1000)
  memo.remember('u', state(1))
  t.equal(memo.fresh('u')?.accessToken, 'a1')
  t.equal(memo.fresh('u', Date.now() + 1500), undefined, 'older than maxAgeMs: not served')
  const never = new StateMemo(0)
  never.remember('u', state(1))
  t.equal(never.fresh('u', Date.now() + 1), undefined, '0: every call reads')
})
