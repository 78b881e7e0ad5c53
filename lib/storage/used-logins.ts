// Single-use login states across instances: the callback claims its state in the shared store
// before it spends the code, and only the first claim anywhere goes on. Redis: one SET NX with
// an expiry (one key per command, so it works on a Cluster too); the key names a hash of the
// state, never the state. A custom Storage may offer the same as `claimLoginState`.
import type { Storage } from '@mirohq/miro-api/dist/storage'
import { MiroStorageError } from '../errors'
import { optionalStorageMethod } from './guard'
import { usedLoginKey } from './keys'
import type { RedisClient, RedisCommands } from './redis'
import type { UsedLoginStates } from './types'

export function createRedisUsedLogins (commands: RedisCommands, client: RedisClient, keyPrefix: string): UsedLoginStates {
  return {
    // Through `commands` like every other command: an outage or a stall is a storage error
    // (503), never a claim that silently went through.
    claim: (stateId, lifeMs) => commands.send('redis login state',
      () => client.set(usedLoginKey(keyPrefix, stateId), '1', 'PX', lifeMs, 'NX'), (answer) => answer === 'OK')
  }
}

/**
 * A custom Storage's `claimLoginState(stateId, lifeMs)`, when it has one: resolves to true for
 * the first claim of `stateId` (atomically, across every instance), false after that, for
 * `lifeMs` at least. Undefined without it: states are then single-use per process.
 */
export function customUsedLogins (storage: Storage, timeoutMs: number): UsedLoginStates | undefined {
  const claimLoginState = optionalStorageMethod<[stateId: string, lifeMs: number]>(storage, 'claimLoginState', timeoutMs)
  if (claimLoginState === undefined) return undefined
  return {
    async claim (stateId, lifeMs) {
      const answer = await claimLoginState(stateId, lifeMs)
      // Anything else is a bug in the Storage: neither a login let through nor one refused by it.
      if (typeof answer !== 'boolean') throw new MiroStorageError('storage claimLoginState must resolve to true (first use) or false (used already)')
      return answer
    }
  }
}
