// Tokens encrypted at rest: AES-256-GCM with a random 96-bit IV per write and the 128-bit
// tag checked on read. The envelope names its key (a hash of it, never the key), so a list of
// keys can be rotated: writes use the first, reads accept any.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { MiroOptionsError } from './errors'
import type { StateCodec } from './storage/codec'
import { checkedState } from './storage/guard'
import type { UserKey } from './storage/types'

export type EncryptionKey = Buffer | string

export interface SealKey {
  id: string
  key: Buffer
}

const VERSION = 'fm1'
const HOW_TO_MAKE_ONE = "generate one with: node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64'))\""

function keyBytes (value: unknown, name: string): Buffer {
  let bytes: Buffer | undefined
  if (Buffer.isBuffer(value)) bytes = value
  else if (typeof value === 'string' && /^[0-9a-fA-F]{64}$/.test(value)) bytes = Buffer.from(value, 'hex')
  else if (typeof value === 'string' && /^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) bytes = Buffer.from(value, 'base64')
  else if (typeof value !== 'string') {
    throw new MiroOptionsError(`${name} should be a 32-byte Buffer, or a base64 or hex string of 32 bytes: ${HOW_TO_MAKE_ONE}`)
  }
  if (bytes === undefined || bytes.length !== 32) {
    throw new MiroOptionsError(`${name} should be 32 bytes, but it is ${bytes?.length ?? 'not base64 or hex, so 0'} bytes: ${HOW_TO_MAKE_ONE}`)
  }
  return Buffer.from(bytes) // a copy: the caller's Buffer may change later
}

/** The keys of `options.encryptionKey`, first one for writing; `undefined` when not set. */
export function parseEncryptionKeys (value: unknown): SealKey[] | undefined {
  if (value === undefined) return undefined
  const list: unknown[] = Array.isArray(value) ? value : [value]
  if (list.length === 0) throw new MiroOptionsError('options.encryptionKey should not be an empty list')
  // The write key must be there; an unset later entry is a rotation slot not in use (the old
  // key of `[process.env.KEY, process.env.KEY_OLD]` on a first deployment), so it is left out.
  if (list[0] === undefined) {
    throw new MiroOptionsError('options.encryptionKey[0] (the key new states are written with) is undefined: is its environment variable set?')
  }
  return list.flatMap((entry, i) => {
    if (entry === undefined) return []
    const key = keyBytes(entry, Array.isArray(value) ? `options.encryptionKey[${i}]` : 'options.encryptionKey')
    return [{ id: createHash('sha256').update(key).digest().subarray(0, 6).toString('base64url'), key }]
  })
}

const b64 = (buffer: Buffer): string => buffer.toString('base64url')

/**
 * Seals states into `fm1.<key id>.<iv>.<ciphertext>.<tag>`. With `bindToUserId`, the user id is
 * authenticated too, so a sealed value copied under another user's key does not open there.
 * `earlierBinding`: what values written by an earlier version were bound to, for `userId`;
 * they still open (and are bound anew when next written).
 */
export function createSealCodec (keys: SealKey[], bindToUserId: boolean, earlierBinding?: (userId: UserKey) => UserKey): StateCodec {
  const writeKey = keys[0] as SealKey
  const aad = (userId: UserKey): Buffer => Buffer.from(bindToUserId ? `fastify-miro:${String(userId)}` : 'fastify-miro')
  return {
    encode (state, userId) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', writeKey.key, iv)
      cipher.setAAD(aad(userId))
      const sealed = Buffer.concat([cipher.update(JSON.stringify(state), 'utf8'), cipher.final()])
      return [VERSION, writeKey.id, b64(iv), b64(sealed), b64(cipher.getAuthTag())].join('.')
    },
    decode (value, userId, where, log) {
      if (value === undefined || value === null) return undefined
      const parts = typeof value === 'string' ? value.split('.') : []
      if (parts.length !== 5 || parts[0] !== VERSION) {
        log.warn({ where }, 'fastify-miro: the stored Miro token state is not sealed with options.encryptionKey; treating the user as logged out')
        return undefined
      }
      const [, keyId, iv, sealed, tag] = parts as [string, string, string, string, string]
      const key = keys.find((k) => k.id === keyId)
      if (key === undefined) {
        log.warn({ where }, 'fastify-miro: the stored Miro token state is sealed with a key that is not in options.encryptionKey; treating the user as logged out')
        return undefined
      }
      const open = (boundTo: UserKey): string | undefined => {
        try {
          const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(iv, 'base64url'), { authTagLength: 16 })
          decipher.setAAD(aad(boundTo))
          decipher.setAuthTag(Buffer.from(tag, 'base64url'))
          return Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]).toString('utf8')
        } catch {
          return undefined
        }
      }
      const plain = open(userId) ?? (earlierBinding === undefined ? undefined : open(earlierBinding(userId)))
      if (plain === undefined) {
        log.warn({ where }, 'fastify-miro: the stored Miro token state does not open (tampered with, or not for this user); treating the user as logged out')
        return undefined
      }
      let state: unknown
      try {
        state = JSON.parse(plain)
      } catch {}
      return checkedState(state, where, log)
    }
  }
}
