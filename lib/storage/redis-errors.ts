// What a Redis failure was, for the message of a storage error: the code word of an error reply
// (MOVED, CLUSTERDOWN, READONLY, LOADING…) with Redis's explanation when that is one of its fixed
// sentences, ioredis's own condition ("Connection is closed", "Too many Cluster redirections"), or
// a socket error code. Never an address, a slot, a key, a value or a URL: only text made of
// letters and punctuation passes, so anything a message quotes (keys, arguments, host:port) drops.
import { describeCause } from '../errors'

/** An error reply's code word: Redis starts every error reply with one. */
const REPLY_CODE = /^([A-Z][A-Z_]{1,24})(?= |$)/
/** A fixed sentence: letters, spaces and punctuation only (no digits, ':', '/', quotes around values). */
const SENTENCE = /^[A-Za-z][A-Za-z ,.'()-]{0,119}$/
const REDIRECTIONS = /^Too many Cluster redirections\. Last error: (?:[A-Za-z]*Error: )?([\s\S]*)$/

export function describeRedisCause (err: unknown): string {
  const e = err as { code?: unknown, message?: unknown } | null
  if (typeof e?.code === 'string' && /^E[A-Z]{2,30}$/.test(e.code)) return e.code // ECONNREFUSED, ETIMEDOUT…
  const message = typeof e?.message === 'string' ? e.message : ''
  const redirected = REDIRECTIONS.exec(message)
  if (redirected) return `too many Cluster redirections (last: ${describeText(redirected[1] ?? '') ?? 'unknown error'})`
  return describeText(message) ?? describeCause(err)
}

function describeText (message: string): string | undefined {
  const text = message.trim().replace(/\.$/, '')
  const reply = REPLY_CODE.exec(text)
  if (reply?.[1] !== undefined) {
    const rest = text.slice(reply[1].length).trim()
    return rest !== '' && SENTENCE.test(rest) ? `${reply[1]} ${rest}` : reply[1]
  }
  return text.includes(' ') && SENTENCE.test(text) ? text : undefined
}
