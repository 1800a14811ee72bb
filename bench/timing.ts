/** Side-by-side timing helpers for `npm run bench`: medians over repeats, printed as one table. */
export interface BenchResult {
  name: string;
  medianMs?: number;
  ratio?: number;
  note?: string;
}

export async function timeIt(
  name: string,
  fn: () => unknown | Promise<unknown>,
  { repeats = 5, warmup = 1 }: { repeats?: number; warmup?: number } = {},
): Promise<BenchResult & { medianMs: number }> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { name, medianMs: times[Math.floor(times.length / 2)] };
}

export function printResults(title: string, results: BenchResult[]): void {
  console.log(`\n## ${title}`);
  for (const r of results) {
    const parts = [r.name.padEnd(52)];
    if (r.medianMs !== undefined) parts.push(r.medianMs < 1 ? `${(r.medianMs * 1000).toFixed(1).padStart(9)} µs` : `${r.medianMs.toFixed(1).padStart(9)} ms`);
    if (r.ratio !== undefined) parts.push(`ratio ${r.ratio.toFixed(3)}`);
    if (r.note) parts.push(r.note);
    console.log(parts.join('  '));
  }
}

/** The middle value (upper middle for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}
