// The part of autocannon 8/9's programmatic API the bench uses (the package ships no types).
declare module 'autocannon' {
  interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p50: number
    p90: number
    p99: number
    p99_9: number
  }

  interface Options {
    url: string
    connections?: number
    pipelining?: number
    duration?: number
    amount?: number
    timeout?: number
    headers?: Record<string, string>
    method?: string
  }

  interface Result {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    resets: number
    '2xx': number
    statusCodeStats: Record<string, { count: number }>
    latency: Histogram
    requests: Histogram & { sent: number }
  }

  /** The running test: an EventEmitter that is also a promise of the result. */
  interface Instance extends PromiseLike<Result> {
    /** Every answer; responseTime in ms with sub-ms precision (hrtime). */
    on (event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): this
  }

  function autocannon (opts: Options): Instance
  export = autocannon
}
