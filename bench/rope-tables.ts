/**
 * fluxRopeTables for a 4096×4096 FLUX image (256×256 tokens + 512 text tokens) against a naive
 * per-element build (Math.cos/sin per token × dim), measured side by side in this run.
 */
import { axisRope, fluxRopeTables, type DypeOptions } from '../runtime/dype/index.ts';
import { timeIt, type BenchResult } from './timing.ts';

function naiveTables(grid: { height: number; width: number; textTokens: number }, t: number, opts: DypeOptions) {
  const dims = [16, 56, 56];
  const axes = [axisRope(16, 1, t, { ...opts, method: 'base' }), axisRope(56, grid.height, t, opts), axisRope(56, grid.width, t, opts)];
  const n = grid.textTokens + grid.height * grid.width;
  const cos = new Float32Array(n * 128);
  const sin = new Float32Array(n * 128);
  for (let token = 0; token < n; token++) {
    const img = token - grid.textTokens;
    const pos = img < 0 ? [0, 0, 0] : [0, Math.floor(img / grid.width), img % grid.width];
    let k = 0;
    for (let a = 0; a < 3; a++) {
      for (let i = 0; i < dims[a]; i++, k++) {
        const angle = pos[a] * axes[a].omega[i >> 1];
        cos[token * 128 + k] = Math.cos(angle) * axes[a].mscale;
        sin[token * 128 + k] = Math.sin(angle) * axes[a].mscale;
      }
    }
  }
  return { cos, sin };
}

export async function benchRopeTables(): Promise<BenchResult[]> {
  const grid = { height: 256, width: 256, textTokens: 512 };
  const opts: DypeOptions = { method: 'yarn', dynamic: true };
  const fast = await timeIt('fluxRopeTables 4096² (broadcast)', () => fluxRopeTables(grid, 0.7, opts), { repeats: 7 });
  const naive = await timeIt('naive per-element tables 4096²', () => naiveTables(grid, 0.7, opts), { repeats: 3 });
  return [fast, naive, { name: 'speed-up naive / fluxRopeTables', ratio: naive.medianMs / fast.medianMs }];
}
