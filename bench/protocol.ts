// Messages between the orchestrator (parent) and a server child, over the fork() IPC channel.

/** What a server child needs besides its scenario name; passed as JSON in argv[3]. */
export interface ServerConfig {
  redisUrl?: string
  sandbox?: { url: string, clientId: string, clientSecret: string }
}

/** Parent → child: a question with an id; the child answers with the same id. */
export type Command =
  | { type: 'cpu', id: number }
  | { type: 'heap', id: number }
  | { type: 'stop', id: number }

export interface CpuSample {
  /** process.cpuUsage(), microseconds. */
  user: number
  system: number
  /** process.hrtime.bigint() as a number of nanoseconds since an arbitrary origin. */
  atNs: number
}

export interface HeapSample {
  /** heapUsed after forced GCs, bytes (-1 when the child was started without --expose-gc). */
  heapUsed: number
  /** process.getActiveResourcesInfo(), counted by type (Timeout, TCPWRAP, PipeWrap…). */
  resources: Record<string, number>
}

export type Reply =
  | { type: 'cpu', id: number, sample: CpuSample }
  | { type: 'heap', id: number, sample: HeapSample }
  | { type: 'stop', id: number }

/** Child → parent, once the server listens and its setup (session login…) is done. */
export interface Ready {
  type: 'ready'
  url: string
  /** Headers every load request must carry (the session cookie of a logged-in user). */
  headers: Record<string, string>
}

export interface Failed { type: 'failed', message: string }

export type FromChild = Reply | Ready | Failed
