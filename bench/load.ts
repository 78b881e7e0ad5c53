// One autocannon run against a server child, with the CPU share of the server, of this
// process (the load generator) and of redis-server over the same interval.
import autocannon from 'autocannon'
import { coreShare, selfCpuSample, type ServerChild } from './child'
import { LatencyRecorder } from './latency'
import { machineBusySeconds } from './machine'

export interface LoadOptions {
  connections: number
  /** Seconds; ignored when `amount` is given. */
  duration?: number
  /** Total number of requests. */
  amount?: number
}

export interface RunResult {
  rps: number
  p50: number
  p99: number
  requests: number
  /** Errors, timeouts and non-2xx answers. */
  failures: number
  /** Shares of one core. */
  serverCpu: number
  loadCpu: number
  redisCpu?: number
  /** CPU used by every other process of the machine meanwhile (other people's jobs), in cores. */
  otherCpu?: number
  /** How many earlier measurements of this run were dropped because other processes were busy. */
  retried?: number
}

/** When the load generator uses this share of a core or more, it is probably the bottleneck. */
export const LOADGEN_LIMIT = 0.9

export async function runLoad (server: ServerChild, opts: LoadOptions, redisCpuSeconds?: () => number | undefined): Promise<RunResult> {
  const serverBefore = await server.cpu()
  const selfBefore = selfCpuSample()
  const redisBefore = redisCpuSeconds?.()
  const machineBefore = machineBusySeconds()
  const latencies = new LatencyRecorder()
  const instance = autocannon({
    url: server.url,
    headers: server.headers,
    connections: opts.connections,
    ...(opts.amount === undefined ? { duration: opts.duration ?? 5 } : { amount: opts.amount })
  })
  // With `amount`, autocannon notices the end on its 1-s tick: the run ends at the last answer,
  // or req/s would be the amount over whole seconds (2000 requests: 181, 200, 222 or 250 req/s).
  let lastAnswerNs = 0
  instance.on('response', (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.record(ms)
    lastAnswerNs = Number(process.hrtime.bigint())
  })
  const result = await instance
  const endNs = opts.amount === undefined || lastAnswerNs === 0 ? undefined : lastAnswerNs
  const selfAfter = selfCpuSample()
  const redisAfter = redisCpuSeconds?.()
  const machineAfter = machineBusySeconds()
  const serverAfter = await server.cpu()
  const wallSeconds = ((endNs ?? selfAfter.atNs) - selfBefore.atNs) / 1e9
  // CPU shares over the time requests ran: the idle tail before autocannon's tick is left out.
  const active = ((selfAfter.atNs - selfBefore.atNs) / 1e9) / wallSeconds
  const requests = result.requests.total
  const [p50, p99] = latencies.percentiles(50, 99) as [number, number]
  const serverCpu = coreShare(serverBefore, serverAfter) * active
  const loadCpu = coreShare(selfBefore, selfAfter) * active
  const redisCpu = redisBefore !== undefined && redisAfter !== undefined ? (redisAfter - redisBefore) / wallSeconds : undefined
  const machineCpu = machineBefore !== undefined && machineAfter !== undefined ? (machineAfter - machineBefore) / wallSeconds : undefined
  return {
    rps: requests / wallSeconds,
    p50,
    p99,
    requests,
    failures: result.errors + result.timeouts + result.non2xx,
    serverCpu,
    loadCpu,
    ...(redisCpu === undefined ? {} : { redisCpu }),
    ...(machineCpu === undefined ? {} : { otherCpu: Math.max(0, machineCpu - serverCpu - loadCpu - (redisCpu ?? 0)) })
  }
}
