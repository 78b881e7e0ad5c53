// `redis.waitReplicas`: a written pair counts as stored once `replicas` replicas acknowledged
// it (WAIT). Replication is asynchronous, so without it a failover can promote a replica that
// never saw a pair the old master acknowledged, or the client can go on writing to a master
// already replaced (its writes are discarded when it rejoins as a replica).
import { MiroStorageError } from '../errors'
import type { RedisCommands } from './redis'

/** After a short answer, writes are not waited on (they fail at once) for this long. */
export const SHORT_BACKOFF_MS = 1000

/**
 * WAIT blocks the whole connection, every request's command queued behind it, until the
 * replicas answer or its time runs out. So WAITs are coalesced: one at a time, and the next
 * one covers every write answered meanwhile (WAIT counts all earlier writes of its
 * connection). While replicas are short, one WAIT per SHORT_BACKOFF_MS probes whether they
 * are back, and the other writes fail at once: a refresh's pair then stays in the
 * pending-write journal, served from memory and written again until a WAIT acknowledges it.
 */
export class ReplicaAcks {
  private current: Promise<number> | undefined
  private next: Promise<number> | undefined
  /** 0 while replicas acknowledge; else when the next WAIT may probe whether they are back. */
  private probeAt = 0

  constructor (
    private readonly commands: RedisCommands,
    /** Sends WAIT on the client's connection. */
    private readonly wait: (numReplicas: number, timeoutMs: number) => Promise<number>,
    readonly replicas: number,
    readonly timeoutMs: number
  ) {}

  /**
   * Call right after a write answered on connection `connection` (commands.connection at the
   * time it was sent). Resolves once `replicas` replicas hold it; rejects with
   * MiroStorageError when they do not within the time limit, or the connection changed.
   */
  async acknowledged (connection: number): Promise<void> {
    if (this.probeAt !== 0 && (Date.now() < this.probeAt || this.current !== undefined)) {
      throw this.short('not waited for: too few replicas acknowledged the last write')
    }
    const acks = await this.waitAfter()
    // A WAIT on another connection (ioredis reconnected, perhaps to a new master) says
    // nothing of this write: that connection's own earlier writes are all it counts.
    if (this.commands.connection !== connection) throw this.short('the connection changed before the replicas acknowledged')
    if (acks < this.replicas) {
      this.probeAt = Date.now() + SHORT_BACKOFF_MS
      throw this.short(`${acks} of ${this.replicas} replicas acknowledged within ${this.timeoutMs} ms`)
    }
    this.probeAt = 0
  }

  /** A WAIT sent after every write answered so far. */
  private waitAfter (): Promise<number> {
    if (this.current === undefined) {
      const sent = this.commands.send('redis wait', () => this.wait(this.replicas, this.timeoutMs))
      this.current = sent
      const clear = (): void => { if (this.current === sent) this.current = undefined }
      sent.then(clear, clear)
      return sent
    }
    if (this.next === undefined) {
      const after = this.current.then(() => {}, () => {})
      const next = after.then(() => {
        this.next = undefined
        return this.waitAfter()
      })
      this.next = next
    }
    return this.next
  }

  private short (why: string): Error {
    return new MiroStorageError(`redis wait: ${why}`)
  }
}
