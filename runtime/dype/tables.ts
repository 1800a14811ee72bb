import { axisRopeResolved, type AxisRope } from './axis.ts';
import { resolveDypeOptions, type AxisRole, type DypeOptions, type ResolvedDypeOptions } from './options.ts';

/** Token grid of one image: height/width in tokens, plus the text tokens in front (all ids 0). */
export interface TokenGrid {
  height: number;
  width: number;
  textTokens: number;
}

function checkGrid(grid: TokenGrid): void {
  for (const key of ['height', 'width'] as const) {
    if (!Number.isInteger(grid[key]) || grid[key] < 1) {
      throw new RangeError(`grid.${key} must be an integer >= 1 (tokens), got ${String(grid[key])}`);
    }
  }
  if (!Number.isInteger(grid.textTokens) || grid.textTokens < 0) {
    throw new RangeError(`grid.textTokens must be an integer >= 0, got ${String(grid.textTokens)}`);
  }
}

/**
 * Number of image positions per axis: the rows axis spans the grid's height, the cols axis its
 * width; every other axis sits at 0 for image tokens (length 1). Default roles are FLUX's: axis 0
 * is always 0, axis 1 the row, axis 2 the column.
 */
export function axisLengths(grid: TokenGrid, axisCount: number, roles?: readonly AxisRole[]): number[] {
  const role = (a: number): AxisRole => roles?.[a] ?? (a === 1 ? 'rows' : a === 2 ? 'cols' : 'native');
  return Array.from({ length: axisCount }, (_, a) => (role(a) === 'rows' ? grid.height : role(a) === 'cols' ? grid.width : 1));
}

/** max(1, L/B) over the spatial axes: how far past native the image goes on its longer side. */
export function globalScale(grid: TokenGrid, baseLength: number): number {
  return Math.max(1, grid.height / baseLength, grid.width / baseLength);
}

/** ω and mscale of every axis for one step; only the rows and cols axes are scaled, the others stay native. */
export function gridAxisRopes(grid: TokenGrid, t: number, o: ResolvedDypeOptions): AxisRope[] {
  checkGrid(grid);
  const lengths = axisLengths(grid, o.axesDim.length, o.axisRoles);
  const context = { globalScale: globalScale(grid, o.baseLength) };
  return o.axesDim.map((dim, a) => (o.axisRoles[a] === 'native' ? axisRopeResolved(dim, 1, t, { ...o, method: 'base' }) : axisRopeResolved(dim, lengths[a], t, o, context)));
}

export interface RopeFrequencies {
  /** ω of all axes concatenated in axis order: Σ axesDim / 2 values. */
  omega: Float64Array;
  /** mscale of each frequency's axis, same length as omega. */
  mscale: Float64Array;
}

/** The compact per-step feed of a DyPE-ready transformer (`rope_omega`, `rope_mscale`). */
export function fluxRopeFrequencies(grid: TokenGrid, t: number, opts: DypeOptions): RopeFrequencies {
  const axes = gridAxisRopes(grid, t, resolveDypeOptions(opts));
  const total = axes.reduce((n, a) => n + a.omega.length, 0);
  const omega = new Float64Array(total);
  const mscale = new Float64Array(total);
  let offset = 0;
  for (const axis of axes) {
    omega.set(axis.omega, offset);
    mscale.fill(axis.mscale, offset, offset + axis.omega.length);
    offset += axis.omega.length;
  }
  return { omega, mscale };
}

/** Per-position rows of one axis, already interleave-repeated and scaled: [length, 2·half]. */
function axisTable(axis: AxisRope, length: number, fn: (x: number) => number): Float32Array {
  const half = axis.omega.length;
  const table = new Float32Array(length * half * 2);
  for (let p = 0; p < length; p++) {
    for (let j = 0; j < half; j++) {
      const v = fn(p * axis.omega[j]) * axis.mscale;
      table[(p * half + j) * 2] = v;
      table[(p * half + j) * 2 + 1] = v;
    }
  }
  return table;
}

/**
 * Broadcast per-axis position tables into the full [textTokens + H·W, dim] table: one block of W
 * image tokens is built for row 0 and copied per row, with only the row axis rewritten.
 */
function broadcastTable(grid: TokenGrid, dims: readonly number[], tables: Float32Array[]): Float32Array {
  const dim = dims.reduce((a, b) => a + b, 0);
  const offsets = dims.map((_, a) => dims.slice(0, a).reduce((x, y) => x + y, 0));
  const out = new Float32Array((grid.textTokens + grid.height * grid.width) * dim);

  // Text tokens: every axis at position 0.
  const zeroRow = new Float32Array(dim);
  dims.forEach((d, a) => zeroRow.set(tables[a].subarray(0, d), offsets[a]));
  for (let i = 0; i < grid.textTokens; i++) out.set(zeroRow, i * dim);

  // Row 0 of the image: columns vary along axis 2, every other axis at 0.
  const imageStart = grid.textTokens * dim;
  const rowBlock = out.subarray(imageStart, imageStart + grid.width * dim);
  for (let c = 0; c < grid.width; c++) {
    rowBlock.set(zeroRow, c * dim);
    if (dims.length > 2) rowBlock.set(tables[2].subarray(c * dims[2], (c + 1) * dims[2]), c * dim + offsets[2]);
  }
  if (dims.length < 2) return out;

  const rowDim = dims[1];
  const rowOffset = offsets[1];
  const rowTable = tables[1];
  for (let r = 1; r < grid.height; r++) {
    const start = imageStart + r * grid.width * dim;
    out.set(rowBlock, start);
    const segment = rowTable.subarray(r * rowDim, (r + 1) * rowDim);
    for (let c = 0; c < grid.width; c++) out.set(segment, start + c * dim + rowOffset);
  }
  return out;
}

/**
 * Full cos/sin tables as FLUX's FluxPosEmbed returns them: [textTokens + H·W, Σ axesDim], each
 * frequency repeated twice (interleaved), text tokens first. cos/sin run once per distinct
 * position and axis, never per token.
 */
export function fluxRopeTables(
  grid: TokenGrid,
  t: number,
  opts: DypeOptions,
): { cos: Float32Array; sin: Float32Array; dim: number } {
  const o = resolveDypeOptions(opts);
  if (o.axisRoles.some((role, a) => role !== (a === 1 ? 'rows' : a === 2 ? 'cols' : 'native'))) {
    throw new RangeError(`cos/sin tables follow FLUX's ids (native, rows, cols); axisRoles ${o.axisRoles.join(', ')} need rope_omega/rope_mscale`);
  }
  const axes = gridAxisRopes(grid, t, o);
  const lengths = axisLengths(grid, o.axesDim.length, o.axisRoles);
  const cosTables = axes.map((axis, a) => axisTable(axis, lengths[a], Math.cos));
  const sinTables = axes.map((axis, a) => axisTable(axis, lengths[a], Math.sin));
  return {
    cos: broadcastTable(grid, o.axesDim, cosTables),
    sin: broadcastTable(grid, o.axesDim, sinTables),
    dim: o.axesDim.reduce((a, b) => a + b, 0),
  };
}
