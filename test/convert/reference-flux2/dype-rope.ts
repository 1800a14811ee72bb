/**
 * Writes the ω/mscale the reference klein transformer is checked at (run by make_fixtures.py with
 * the token grid as JSON): runtime/dype's dynamic YaRN at t = 0.7 for a grid whose native size is
 * 1 token per side, so both image axes are extrapolated. FLUX.2's axes are (t, h, w, l), θ 2000:
 * DyPE scales h and w; t and the text axis l stay native.
 */
import { fluxRopeFrequencies, type DypeOptions } from '../../../runtime/dype/index.ts';

const grid = JSON.parse(process.argv[2] ?? '{"height":2,"width":3,"textTokens":4}') as { height: number; width: number; textTokens: number };
const t = 0.7;
const axisDim = 4;
const at = (method: DypeOptions['method'], dynamic: boolean) => {
  const opts = { method, dynamic, baseLength: 1, theta: 2000 };
  const image = fluxRopeFrequencies(grid, t, { ...opts, axesDim: [axisDim, axisDim, axisDim] });
  // A one-axis table is its axis 0, which runtime/dype always keeps native: the text axis l.
  const text = fluxRopeFrequencies(grid, t, { ...opts, axesDim: [axisDim] });
  return { omega: [...image.omega, ...text.omega], mscale: [...image.mscale, ...text.mscale] };
};
process.stdout.write(JSON.stringify({ grid, t, native: at('base', false), dype: at('yarn', true) }));
