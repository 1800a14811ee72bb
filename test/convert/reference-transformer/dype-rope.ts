/**
 * Writes the DyPE ω/mscale the reference transformer is checked at (run by make_fixtures.py):
 * runtime/dype's dynamic YaRN for a 2×3 token grid whose native size is 1 token per side, at t = 0.7,
 * so every image axis is extrapolated and its mscale is above 1.
 */
import { fluxRopeFrequencies } from '../../../runtime/dype/index.ts';

const axesDim = JSON.parse(process.argv[2] ?? '[4, 14, 14]') as number[];
const grid = { height: 2, width: 3, textTokens: 4 };
const native = fluxRopeFrequencies(grid, 0.7, { method: 'base', dynamic: false, baseLength: 1, theta: 10000, axesDim });
const dype = fluxRopeFrequencies(grid, 0.7, { method: 'yarn', dynamic: true, baseLength: 1, theta: 10000, axesDim });
process.stdout.write(JSON.stringify({ grid, t: 0.7, native: { omega: [...native.omega], mscale: [...native.mscale] }, dype: { omega: [...dype.omega], mscale: [...dype.mscale] } }));
