/**
 * Writes the DyPE ω/mscale the Z-Image reference is checked at (run by make_fixtures.py, which takes the grid's height and width): runtime/dype's
 * dynamic YaRN over Z-Image's axes (32, 48, 48) and θ 256 for a 3×5 token grid whose native size is 2
 * tokens per side, at σ = 0.7, so both image axes are extrapolated and the caption axis stays native.
 */
import { fluxRopeFrequencies, type DypeOptions } from '../../../runtime/dype/index.ts';

const grid = { height: 3, width: 5, textTokens: 5 };
const sigma = 0.7;
const options: DypeOptions = { method: 'yarn', dynamic: true, baseLength: 2, theta: 256, axesDim: [32, 48, 48] };
const dype = fluxRopeFrequencies(grid, sigma, options);
process.stdout.write(JSON.stringify({ grid, sigma, options, dype: { omega: [...dype.omega], mscale: [...dype.mscale] } }));
