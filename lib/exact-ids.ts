// Ids from Miro (token answers, id token claims) are kept exactly. Miro's ids have 19 digits,
// above 2^53, and it documents `team_id` as a bare JSON number in one example: JSON.parse rounds
// such a number to the nearest double, so two users could share a storage key. A number that is
// not a safe integer is therefore read again, digit for digit, from the raw JSON text, or refused.

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y

/**
 * The exact decimal text of `parsed[key]`, a JSON number at the top level of `parsed`, which is
 * `JSON.parse(raw())`. A safe integer is `String(n)` and `raw` is not called (the id-token reader
 * runs on every request); any other number is read back from the text. `undefined` means refuse:
 * not a number, not an integer written as digits (`1.5`, `1e21`), or not found in the text.
 */
export function exactInteger (parsed: Readonly<Record<string, unknown>>, key: string, raw: () => string): string | undefined {
  const value = parsed[key]
  if (typeof value !== 'number') return undefined
  if (Number.isSafeInteger(value)) return String(value)
  if (!Number.isInteger(value)) return undefined
  const literal = integerLiteral(raw(), key)
  // The scanner and JSON.parse must have read the same occurrence: else refuse, never guess.
  return literal !== undefined && Number(literal) === value ? literal : undefined
}

/**
 * The digits of the value of top-level `key` in the JSON object text `raw`, when that value is an
 * integer literal (`-?digits`); `undefined` otherwise. Of duplicate keys the last counts, as with
 * JSON.parse. Keys are compared after unescaping (`"team\u005fid"` is `team_id`), and nested
 * objects and strings are skipped whole, so neither a same-name key inside them nor a string that
 * reads `"team_id":1` is taken for it. `raw` is expected to be valid JSON (it was parsed before);
 * text that is not an object, or not well formed where this reads it, gives `undefined`.
 */
export function integerLiteral (raw: string, key: string): string | undefined {
  let at = skipSpace(raw, 0)
  if (raw[at] !== '{') return undefined
  at = skipSpace(raw, at + 1)
  if (raw[at] === '}') return undefined
  let found: string | undefined
  for (;;) {
    if (raw[at] !== '"') return undefined
    const keyEnd = skipString(raw, at)
    if (keyEnd < 0) return undefined
    const name = keyText(raw, at, keyEnd)
    at = skipSpace(raw, keyEnd)
    if (raw[at] !== ':') return undefined
    const valueStart = skipSpace(raw, at + 1)
    const valueEnd = skipValue(raw, valueStart)
    if (valueEnd < 0) return undefined
    if (name === key) found = raw.slice(valueStart, valueEnd)
    at = skipSpace(raw, valueEnd)
    if (raw[at] === ',') {
      at = skipSpace(raw, at + 1)
      continue
    }
    if (raw[at] !== '}' || skipSpace(raw, at + 1) !== raw.length) return undefined
    return found !== undefined && INTEGER.test(found) ? found : undefined
  }
}

function skipSpace (raw: string, at: number): number {
  while (at < raw.length) {
    const c = raw.charCodeAt(at)
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break
    at++
  }
  return at
}

/** `raw[at]` is the opening quote; returns the index after the closing one, or -1. */
function skipString (raw: string, at: number): number {
  for (let i = at + 1; i < raw.length; i++) {
    const c = raw[i]
    if (c === '"') return i + 1
    if (c === '\\') i++
  }
  return -1
}

/** A key as JSON.parse sees it: escapes (rare in keys) are decoded by JSON.parse itself. */
function keyText (raw: string, start: number, end: number): string | undefined {
  const inner = raw.slice(start + 1, end - 1)
  if (!inner.includes('\\')) return inner
  try {
    return JSON.parse(raw.slice(start, end)) as string
  } catch {
    return undefined
  }
}

/** Returns the index just after the value starting at `at`, or -1. */
function skipValue (raw: string, at: number): number {
  const c = raw[at]
  if (c === '"') return skipString(raw, at)
  if (c === '{' || c === '[') return skipNested(raw, at)
  for (const word of ['true', 'false', 'null']) {
    if (raw.startsWith(word, at)) return at + word.length
  }
  NUMBER.lastIndex = at
  return NUMBER.test(raw) ? NUMBER.lastIndex : -1
}

/** An object or array, skipped by depth; strings inside are skipped whole (they may hold brackets). */
function skipNested (raw: string, at: number): number {
  let depth = 0
  for (let i = at; i < raw.length; i++) {
    const c = raw[i]
    if (c === '"') {
      i = skipString(raw, i) - 1
      if (i < 0) return -1
    } else if (c === '{' || c === '[') {
      depth++
    } else if (c === '}' || c === ']') {
      depth--
      if (depth === 0) return i + 1
    }
  }
  return -1
}
