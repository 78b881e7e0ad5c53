// Parent side of a server child: fork it, wait for `ready`, ask for CPU and heap samples, stop it.
import { fork, spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pinnedCommand } from './affinity'
import type { Command, CpuSample, FromChild, HeapSample, Ready, Reply, ServerConfig } from './protocol'

const MAIN = join(__dirname, 'servers', 'main.js')

/** The server entry point of a build of this package (its `dist/` directory). */
export function serverMainOf (build: string): string {
  const main = resolve(build, 'bench', 'servers', 'main.js')
  if (!existsSync(main)) throw new Error(`BENCH_CANDIDATE_BUILD=${build} holds no bench/servers/main.js: give the dist/ directory of a built checkout (npm run build)`)
  return main
}

export interface ChildOptions {
  /** Extra Node flags: --expose-gc, --cpu-prof… */
  execArgv?: string[]
  /** taskset CPU list to run the child on (see affinity.ts); anywhere when undefined. */
  cpus?: string
  /** The server entry point to run (serverMainOf): this build's when undefined. */
  main?: string
  /** A command that runs node, e.g. valgrind and its flags (instructions.ts); it must exec node, keeping the pid and the IPC channel. */
  wrapper?: string[]
}

export class ServerChild {
  private nextId = 1
  private readonly waiting = new Map<number, (reply: Reply) => void>()
  private stderr = ''

  private constructor (private readonly child: ChildProcess, readonly url: string, readonly headers: Record<string, string>) {
    child.on('message', (message: FromChild) => {
      if (message.type === 'ready' || message.type === 'failed') return
      this.waiting.get(message.id)?.(message)
      this.waiting.delete(message.id)
    })
  }

  get pid (): number | undefined { return this.child.pid }

  static async start (scenario: string, config: ServerConfig, opts: ChildOptions = {}): Promise<ServerChild> {
    const args = [scenario, JSON.stringify(config)]
    const stdio: StdioOptions = ['ignore', 'inherit', 'pipe', 'ipc']
    const env = { ...process.env, NODE_ENV: 'production' }
    const main = opts.main ?? MAIN
    let child: ChildProcess
    const nodeArgs = [...(opts.execArgv ?? []), main, ...args]
    if (opts.cpus === undefined && opts.wrapper === undefined) {
      child = fork(main, args, { stdio, env, execArgv: opts.execArgv ?? [] })
    } else {
      const node = opts.wrapper === undefined ? { command: process.execPath, args: nodeArgs } : { command: opts.wrapper[0] as string, args: [...opts.wrapper.slice(1), process.execPath, ...nodeArgs] }
      const pinned = opts.cpus === undefined ? node : pinnedCommand(opts.cpus, node.command, node.args)
      child = spawn(pinned.command, pinned.args, { stdio, env })
    }
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const first = await Promise.race([
      once(child, 'message').then(([m]) => m as FromChild),
      once(child, 'exit').then(([code]) => ({ type: 'failed', message: `exited with ${code}: ${stderr}` }) as FromChild)
    ])
    if (first.type !== 'ready') {
      child.kill('SIGKILL')
      throw new Error(`server '${scenario}' did not start: ${first.type === 'failed' ? first.message : first.type}`)
    }
    const started = new ServerChild(child, (first as Ready).url, (first as Ready).headers)
    started.stderr = stderr
    child.stderr?.on('data', (chunk: Buffer) => { started.stderr += chunk.toString() })
    return started
  }

  /** What the child wrote to stderr (warnings, crashes). */
  get errors (): string { return this.stderr }

  private ask (type: Command['type']): Promise<Reply> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const onExit = (): void => reject(new Error(`server child exited before answering '${type}': ${this.stderr}`))
      this.child.once('exit', onExit)
      this.waiting.set(id, (reply) => {
        this.child.off('exit', onExit)
        resolve(reply)
      })
      this.child.send({ type, id } satisfies Command)
    })
  }

  async cpu (): Promise<CpuSample> {
    const reply = await this.ask('cpu')
    if (reply.type !== 'cpu') throw new Error('unexpected reply ' + reply.type)
    return reply.sample
  }

  async heap (): Promise<HeapSample> {
    const reply = await this.ask('heap')
    if (reply.type !== 'heap') throw new Error('unexpected reply ' + reply.type)
    return reply.sample
  }

  /** Closes the server and waits for the process to exit (SIGKILL after 10 s). */
  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    try {
      await this.ask('stop')
    } catch {}
    await exited
    clearTimeout(timer)
  }
}

/** CPU used between two samples, as a share of one core (1 = a full core). */
export function coreShare (before: CpuSample, after: CpuSample): number {
  const cpuUs = (after.user - before.user) + (after.system - before.system)
  const wallUs = (after.atNs - before.atNs) / 1000
  return wallUs > 0 ? cpuUs / wallUs : 0
}

/** The same for this (the load generator's) process. */
export function selfCpuSample (): CpuSample {
  const { user, system } = process.cpuUsage()
  return { user, system, atNs: Number(process.hrtime.bigint()) }
}
