// Unknown option keys: JavaScript callers get no compile error for `storag: 'redis'`, and the
// option would be silently ignored, so an unknown key fails register with the closest known one.

/** Keys Fastify itself puts into every plugin's options (register options). */
const FASTIFY_REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers']

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for "did you mean". */
function distance (a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

/** The known key closest to `key`, when it is close enough to be a typo of it. */
export function closestKey (key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const dist = distance(key.toLowerCase(), candidate.toLowerCase())
    if (dist < bestDistance) [best, bestDistance] = [candidate, dist]
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined
}

/**
 * The message for the first key of `given` that is not in `known` (`name` is where the object
 * sits, e.g. `options.redis`); `undefined` when every key is known.
 */
export function unknownKeyMessage (given: object, known: readonly string[], name: string, topLevel: boolean): string | undefined {
  for (const key of Object.keys(given)) {
    if (known.includes(key) || (topLevel && FASTIFY_REGISTER_KEYS.includes(key))) continue
    const close = closestKey(key, known)
    return close
      ? `${name}.${key} is not an option: did you mean \`${close}\`?`
      : `${name}.${key} is not an option; the options are ${known.map((k) => `\`${k}\``).join(', ')}`
  }
  return undefined
}
