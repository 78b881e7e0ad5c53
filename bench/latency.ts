// Latencies of every 2xx answer, at hrtime precision (autocannon's own histogram rounds to whole ms).

export class LatencyRecorder {
  private values = new Float64Array(1 << 16)
  private count = 0

  record (ms: number): void {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2)
      bigger.set(this.values)
      this.values = bigger
    }
    this.values[this.count++] = ms
  }

  /** Percentiles (0–100) of what was recorded, in ms; NaN when empty. */
  percentiles (...ps: number[]): number[] {
    const sorted = this.values.slice(0, this.count).sort()
    return ps.map((p) => this.count === 0 ? NaN : sorted[Math.min(this.count - 1, Math.ceil((p / 100) * this.count) - 1)] as number)
  }
}
