// Network faults between an app and Miro (the sandbox), as real servers on 127.0.0.1:
// - a proxy that forwards every call at once and can hold back the ANSWERS of token calls
//   (Miro has rotated the refresh token, its answer is late: a slow link or a slow Miro);
// - a black hole that accepts connections and never answers (a holder stuck in its token call).
import { once } from 'node:events'
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net'

/** One answer of Miro's token endpoint as it went through the proxy. */
export interface TokenAnswer {
  /** When the call reached the proxy (and was forwarded to Miro), ms since the epoch. */
  arrivedAt: number
  /** When the proxy handed the answer to the kernel for the app, ms since the epoch. */
  releasedAt: number
  status: number
  /** Miro's user id in the answer ('' for an error answer). */
  miroUserId: string
  /** The app hung up before the answer came (it gave up on the call). */
  appGone: boolean
}

export interface LateAnswerProxy {
  url: string
  readonly answers: TokenAnswer[]
  /** Holds the answers of the next `times` token calls `ms` after Miro gave them; null stops. */
  holdTokenAnswers (mode: { ms: number, times?: number } | null): void
  /** Called right after a token answer was handed to the kernel (a test may SIGKILL the app here). */
  onRelease: ((answer: TokenAnswer) => void) | undefined
  close (): Promise<void>
}

function track (server: Server | TcpServer): Set<Socket> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  return sockets
}

async function listenLocal (server: Server | TcpServer): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function readAll (stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function miroUserIdOf (body: Buffer): string {
  try {
    const id = (JSON.parse(body.toString('utf8')) as { user_id?: unknown }).user_id
    return id === undefined ? '' : String(id)
  } catch {
    return ''
  }
}

export async function startLateAnswerProxy (target: string): Promise<LateAnswerProxy> {
  const upstream = new URL(target)
  const agent = new Agent({ keepAlive: true })
  const timers = new Set<NodeJS.Timeout>()
  let hold: { ms: number, remaining: number } | null = null
  const proxy: LateAnswerProxy = {
    url: '',
    answers: [],
    onRelease: undefined,
    holdTokenAnswers (mode) {
      hold = mode === null ? null : { ms: mode.ms, remaining: mode.times ?? Infinity }
    },
    close: async () => {}
  }

  const server = createServer((req, res) => {
    const arrivedAt = Date.now()
    const isToken = req.method === 'POST' && (req.url ?? '').startsWith('/v1/oauth/token')
    let appGone = false
    res.on('close', () => { if (!res.writableFinished) appGone = true })
    readAll(req).then((body) => {
      const forwarded = httpRequest({
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
        agent
      }, (answer) => {
        readAll(answer).then((payload) => {
          let delay = 0
          if (isToken && hold !== null && hold.remaining > 0) {
            hold.remaining -= 1
            delay = hold.ms
          }
          const send = (): void => {
            const headers = { ...answer.headers }
            delete headers['transfer-encoding']
            headers['content-length'] = String(payload.length)
            res.writeHead(answer.statusCode ?? 502, headers)
            res.end(payload, () => {
              if (!isToken) return
              const record: TokenAnswer = {
                arrivedAt, releasedAt: Date.now(), status: answer.statusCode ?? 0, miroUserId: miroUserIdOf(payload), appGone
              }
              proxy.answers.push(record)
              proxy.onRelease?.(record)
            })
          }
          if (delay === 0) {
            send()
            return
          }
          const timer = setTimeout(() => {
            timers.delete(timer)
            if (isToken && res.destroyed) {
              // The app gave up on the call; Miro's answer (already rotated) reaches nobody.
              const record: TokenAnswer = { arrivedAt, releasedAt: Date.now(), status: answer.statusCode ?? 0, miroUserId: miroUserIdOf(payload), appGone: true }
              proxy.answers.push(record)
              proxy.onRelease?.(record)
              return
            }
            send()
          }, delay)
          timers.add(timer)
        }).catch(() => res.destroy())
      })
      forwarded.on('error', () => res.destroy())
      forwarded.end(body)
    }).catch(() => res.destroy())
  })
  const sockets = track(server)
  proxy.url = await listenLocal(server)
  proxy.close = async () => {
    for (const timer of timers) clearTimeout(timer)
    timers.clear()
    const closed = once(server, 'close')
    server.close()
    for (const socket of sockets) socket.destroy()
    agent.destroy()
    await closed
  }
  return proxy
}

export interface BlackHole {
  url: string
  /** Token calls received (and never answered). */
  readonly tokenCalls: number
  close (): Promise<void>
}

/** Accepts connections, reads what comes and never answers. */
export async function startBlackHole (): Promise<BlackHole> {
  let tokenCalls = 0
  const server = createTcpServer((socket) => {
    let seen = ''
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1')
      // Count request lines; keep only a tail long enough to hold one split across chunks.
      const lines = seen.split('POST /v1/oauth/token')
      tokenCalls += lines.length - 1
      seen = (lines[lines.length - 1] ?? '').slice(-32)
    })
    socket.on('error', () => {})
  })
  const sockets = track(server)
  const url = await listenLocal(server)
  return {
    url,
    get tokenCalls () { return tokenCalls },
    async close () {
      const closed = once(server, 'close')
      server.close()
      for (const socket of sockets) socket.destroy()
      await closed
    }
  }
}
