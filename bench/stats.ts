// Small numeric helpers: medians and formatting.

export function median (values: number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export function minMax (values: number[]): [number, number] {
  return [Math.min(...values), Math.max(...values)]
}

export const fmtInt = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'
export const fmtMs = (n: number): string => Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : 'n/a'
export const fmtRatio = (n: number): string => Number.isFinite(n) ? n.toFixed(2) + '×' : 'n/a'
/** A share of one core (1 = 100 %). */
export const fmtCore = (n: number | undefined): string => n === undefined || !Number.isFinite(n) ? 'n/a' : Math.round(n * 100) + ' %'
export const fmtMB = (bytes: number): string => (bytes / 1024 / 1024).toFixed(2) + ' MB'

/** A markdown table: the first column left-aligned, the figures right-aligned. */
export function mdTable (head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => i === 0 ? ' --- ' : ' ---: ').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n')
}
