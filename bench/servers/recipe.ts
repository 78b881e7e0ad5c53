// Miro's own recipes, kept as the guide writes them:
// - RedisStorage from "Implement storage" (packages/miro-api/docs/implement-storage.md):
//   node-redis, a lazily connected client, JSON values under `userId.toString()`. The only
//   change: createClient({ url }) instead of createClient(), to reach the bench's Redis.
// - SandboxTokenMiro: the SDK's Miro with getToken() copied from
//   @mirohq/miro-api 2.2.4 dist/index.js, the token URL's origin being the ONLY change
//   (the SDK hard-codes https://api.miro.com). Its non-locking refresh (getAccessToken →
//   refreshAccessToken → getToken, storage.set not awaited) is the SDK's, untouched.
import { Miro, type ExternalUserId } from '@mirohq/miro-api'
import { HttpError } from '@mirohq/miro-api/dist/api/apis'
import type { State, Storage } from '@mirohq/miro-api/dist/storage'
import fetch from 'node-fetch'
import { createClient } from 'redis'

type RedisClient = ReturnType<typeof createClient>

export class RedisStorage implements Storage {
  private redisClient?: RedisClient

  constructor (private readonly url: string) {}

  // Initiate a connection to the Redis instance.
  // On subsequent calls, it returns the same Redis connection
  async _getClient (): Promise<RedisClient> {
    if (!this.redisClient) {
      const client = createClient({ url: this.url })
      await client.connect()
      this.redisClient = client
    }
    return this.redisClient
  }

  // Return the state from Redis, if this data exists
  async get (userId: ExternalUserId): Promise<State | undefined> {
    const client = await this._getClient()
    const value = await client.get(userId.toString())
    if (!value) return undefined
    return JSON.parse(value)
  }

  // Store the state in Redis.
  // If the state is undefined, the corresponding Redis key is deleted
  async set (userId: ExternalUserId, state: State | undefined): Promise<void> {
    const client = await this._getClient()

    // Delete the state, if it's undefined
    if (!state) {
      await client.del(userId.toString())
      return
    }

    // Store the state in Redis
    await client.set(userId.toString(), JSON.stringify(state))
  }

  /** Not in the guide: lets the bench server exit cleanly. */
  async close (): Promise<void> {
    await this.redisClient?.quit()
  }
}

/** `Miro` whose token calls go to `tokenOrigin` (the sandbox) instead of https://api.miro.com. */
export function sandboxTokenMiro (tokenOrigin: string): typeof Miro {
  return class SandboxTokenMiro extends Miro {
    override async getToken (userId: ExternalUserId, params: { [key: string]: string }): Promise<string> {
      const tokenUrl = new URL('/v1/oauth/token', tokenOrigin) // the only change: was defaultBasePath
      tokenUrl.search = new URLSearchParams(params).toString()
      const response = await fetch(tokenUrl.toString(), { method: 'post' })
      if (!response.ok) {
        throw new HttpError(response, {}, response.status)
      }
      const body = (await response.json())
      this.storage.set(userId, {
        accessToken: body.access_token,
        refreshToken: body.refresh_token,
        tokenExpiresAt: body.expires_in ? new Date(Date.now() + (body.expires_in - 120) * 1000).toISOString() : undefined,
        userId: body.user_id
      })
      return body.access_token
    }
  }
}
