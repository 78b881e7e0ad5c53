// The faults section: the fault suite (test/faults/) run once by tap, each scenario's own
// report (users logged out, token calls…, written as JSON lines to FAULTS_REPORT), set beside
// what the same faults did to the plugin before the token-lifecycle work (commit 3cbe43c,
// measured with the same scenarios and in ../shared/notes/token-lifecycle.md).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onAllCpus } from './affinity'

/** One scenario's report line (see reportFigures in test/helpers/fault-harness.ts). */
export interface FaultLine {
  scenario: string
  [figure: string]: unknown
}

export interface FaultsResult {
  /** tap's exit code: 0 when every assertion of the suite held. */
  exitCode: number
  seconds: number
  lines: FaultLine[]
}

/** How a fault hit users before this work, and which figure of its line says it now. */
interface Known {
  /** Matches the start of the scenario's name. */
  prefix: string
  fault: string
  before: string
  after: (line: FaultLine) => string
  /** The one fault no software can survive: reported, not expected to be zero. */
  expectedLoss?: boolean
}

const n = (v: unknown): string => typeof v === 'number' ? String(v) : '?'
const loggedOut = (users: string) => (l: FaultLine): string => `${n(l.loggedOut)} of ${n(l[users] ?? l.users)} users logged out`
const msFigures = (v: unknown): string => {
  const m = v as { median?: number, max?: number, medianMs?: number, maxMs?: number } | undefined
  return `median ${n(m?.median ?? m?.medianMs)} ms, max ${n(m?.max ?? m?.maxMs)} ms`
}

const KNOWN: Known[] = [
  { prefix: 'redis SIGKILL', fault: 'Redis SIGKILLed mid-storm, restarted from its AOF (kill ', before: '50, 50, 10, 19, 0 of 50 users logged out per trial', after: loggedOut('users') },
  { prefix: 'redis connections dropped', fault: 'Redis connections dropped every second, Miro 300 ms', before: '22 of 50 (notes); 9, 8, 10 of 50', after: loggedOut('users') },
  {
    prefix: 'redis stalled',
    fault: 'Redis stalled (SIGSTOP 3 s), storageTimeout 1 s',
    before: 'requests held the whole stall (5.0 s for 5 s), no 503',
    after: (l) => `slowest request in the stall ${n(l.slowestInStallMs)} ms; ${loggedOut('users')(l)}`
  },
  { prefix: 'refresh answered', fault: 'Miro rotates, then answers after httpTimeout', before: '50 of 50 users logged out', after: loggedOut('users') },
  {
    prefix: 'logout racing',
    fault: 'Logout racing a refresh',
    before: '10 of 10 logged in again, the racing pair live at Miro',
    after: (l) => `${n(l.loggedInAgain)} of ${n(l.users)} logged in again; ${n(l.usersWithLiveTokens)} with a live token`
  },
  {
    prefix: 'lock holder killed, Redis',
    fault: 'Lock holder SIGKILLed, then Redis restarted from its AOF (locks restored)',
    before: 'others served after 14.5–14.8 s',
    after: (l) => `others served after ${msFigures(l.servedAfterMs)}; ${loggedOut('users')(l)}`
  },
  {
    prefix: 'lock holder killed',
    fault: 'Lock holder SIGKILLed inside its token call',
    before: 'others served after 12.7–16.2 s',
    after: (l) => `others served after ${msFigures(l.servedAfterMs)}; ${loggedOut('users')(l)}`
  },
  {
    prefix: 'tokens revoked by Miro',
    fault: 'Miro revoked the tokens (',
    before: 'API calls 401 forever, isAuthorized true for 5 of 5',
    after: (l) => `first API call ${Object.keys((l.firstApiCall ?? {}) as object).join(', ')}; isAuthorized afterwards: ${String(l.isAuthorizedAfter)}`
  },
  {
    prefix: 'session backend',
    fault: 'Session backend: two page loads 0–2 ms apart at expiry (',
    before: '2 of 6 runs logged out (notes); 6 of 12',
    after: (l) => `${n(l.runsLoggedOut)} of ${n(l.runs)} runs logged out`
  },
  {
    prefix: 'sentinel forced failover',
    fault: 'Sentinel: forced failover, a storm 100 ms into it (',
    before: '186 of 196 refreshes lost (default ioredis), 170 of 245 (failoverDetector), the issue',
    after: (l) => `${n(l.rotatedPairsLost)} of ${n(l.users)} rotated pairs lost; ${loggedOut('users')(l)}`
  },
  {
    prefix: 'window from Miro',
    fault: 'The window: from Miro\'s answer to the stored pair',
    before: 'median 2.5–6.5 ms, max 36 ms',
    after: (l) => `one at a time: ${msFigures(l.oneAtATime)}; 10 at once: ${msFigures(l['10AtOnce'])}`,
    expectedLoss: true
  },
  {
    prefix: 'process killed right after',
    fault: 'Process SIGKILLed inside that window',
    before: '48–50 of 50 of its users lost',
    after: (l) => `${n(l.usersLost)} of ${n(l.refreshingInTheDeadProcess)} of its users lost; ${n(l.controlUsersLost)} others`,
    expectedLoss: true
  }
]

export interface FaultRow { fault: string, before: string, after: string, expectedLoss: boolean }

/** The section's rows, in the order of KNOWN; a line no entry knows is shown as it is. */
export function faultRows (lines: FaultLine[]): FaultRow[] {
  return lines.map((line) => {
    const known = KNOWN.find((k) => line.scenario.startsWith(k.prefix))
    if (known === undefined) return { fault: line.scenario, before: '', after: JSON.stringify(line), expectedLoss: false }
    // A fault that ends in '(' or '(kill ' takes its detail from the scenario's name (its trial).
    const detail = known.fault.endsWith('(')
      ? known.fault + line.scenario.slice(line.scenario.indexOf('(') + 1)
      : known.fault.endsWith('(kill ') ? known.fault + line.scenario.replace(/^.* at /, 'at ') + ')' : known.fault
    return { fault: detail, before: known.before, after: known.after(line), expectedLoss: known.expectedLoss === true }
  }).sort((a, b) => rank(a) - rank(b))
}

const rank = (row: FaultRow): number => {
  const i = KNOWN.findIndex((k) => row.fault.startsWith(k.fault.replace(/\((kill )?$/, '')))
  return i === -1 ? KNOWN.length : i
}

/** Runs the fault suite once (about 2 minutes) from the source tree and collects its reports. */
export async function runFaults (repoRoot: string, log: (line: string) => void): Promise<FaultsResult> {
  const file = join(tmpdir(), `fastify-miro-faults-${process.pid}.jsonl`)
  rmSync(file, { force: true })
  const started = Date.now()
  log('\nFaults: the fault suite (test/faults/), once')
  const tap = join(repoRoot, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs')
  // Sentinel's failover too, with every client setup (npm test runs only the lossless one).
  // TAP output kept, so a failed run says which check failed (and its whole output stays readable).
  const output = join(tmpdir(), `fastify-miro-faults-${process.pid}.tap`)
  const suite = onAllCpus(process.execPath, [tap, '--reporter=tap', '--disable-coverage', 'test/faults/', 'test/redis-sentinel.test.ts'])
  const child = spawn(suite.command, suite.args, {
    cwd: repoRoot,
    env: { ...process.env, FAULTS_REPORT: file, SENTINEL_SETUPS: 'all' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let tapText = ''
  child.stdout?.on('data', (chunk: Buffer) => { tapText += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  if (code !== 0) {
    writeFileSync(output, tapText)
    for (const failed of tapText.split('\n').filter((l) => /^\s*not ok /.test(l))) log(`  ${failed.trim()}`)
    log(`  (the suite's TAP output: ${output})`)
  }
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {}
  rmSync(file, { force: true })
  const lines = text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as FaultLine)
  const seconds = (Date.now() - started) / 1000
  log(`  ${lines.length} scenario reports in ${seconds.toFixed(0)} s; the suite ${code === 0 ? 'passed' : `FAILED (tap exit ${String(code)})`}`)
  return { exitCode: code ?? 1, seconds, lines }
}
