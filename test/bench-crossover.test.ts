// The paired bench's ratio (bench/paired.ts): the side that is loaded first reads lower for the
// whole round, so rounds alternate which side begins and the two orders' medians are combined.
import { test } from 'tap'
import { crossoverRatio } from '../bench/paired'

const close = (actual: number, expected: number): boolean => Math.abs(actual - expected) < 1e-9

test('a lean against whichever side begins cancels', async (t) => {
  // Cost ratio 0.95; the side that begins loses 4 %: candidate-first rounds read 0.95 × 0.96, the others 0.95 / 0.96.
  const lean = 0.96
  const ratios = [0.95 * lean, 0.95 / lean, 0.95 * lean * 1.01, 0.95 / lean, 0.95 * lean * 0.99, 0.95 / lean * 1.01]
  const { ratio, byOrder } = crossoverRatio(ratios)
  t.ok(close(ratio, 0.95), `ratio ${ratio} is the cost ratio, not the lean`)
  t.ok(byOrder !== undefined && close(byOrder.candidateFirst, 0.95 * lean), 'candidate-first median: rounds 1, 3, 5')
  t.ok(byOrder !== undefined && close(byOrder.referenceFirst, 0.95 / lean), 'reference-first median: rounds 2, 4, 6')
})

test('an odd number of rounds weighs each order the same', async (t) => {
  // Five candidate-first rounds against four: the plain median would be a candidate-first round.
  const ratios = [0.9, 1.1, 0.9, 1.1, 0.9, 1.1, 0.9, 1.1, 0.9]
  t.ok(close(crossoverRatio(ratios).ratio, Math.sqrt(0.99)), 'geometric mean of 0.9 and 1.1')
})

test('one order only (a quick run of one round): the median, no orders', async (t) => {
  t.same(crossoverRatio([0.97]), { ratio: 0.97 })
  t.ok(Number.isNaN(crossoverRatio([]).ratio), 'no rounds: no ratio')
})
