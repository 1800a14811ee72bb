// FLUX.2 [klein] through the `dype` command as a user runs it: convert ComfyUI-style files (tiny,
// real key names), `dype info` names the family, and `dype generate` makes a 4096×1024 banner with
// dy-yarn, 4× the native width.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../runtime/pipeline/image.ts';
import { writeKleinModels } from '../convert/helpers/klein-models.ts';

const run = promisify(execFile);
let root: string;
let bundle: string;

const dype = (...args: string[]) =>
  run(process.execPath, ['bin/dype.js', ...args], { env: { ...process.env, XDG_CACHE_HOME: join(root, 'cache'), HF_HUB_CACHE: join(root, 'hub'), DYPE_MODEL: '' }, maxBuffer: 1 << 24 });

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'dype-cli-klein-'));
  const { models, tokenizers } = writeKleinModels(root);
  bundle = join(root, 'klein');
  const { stdout } = await dype('convert', models, '-o', bundle, '--tokenizers', tokenizers);
  expect(stdout).toMatch(/model\s+FLUX\.2 .*licence/);
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('dype CLI on FLUX.2 [klein]', () => {
  it('info names the family, its native size and its schedule', async () => {
    const { stdout } = await dype('info', '--model', bundle, '--device', 'cpu');
    expect(stdout).toMatch(/family\s+FLUX\.2 \[klein\] \(flux2\)/);
    expect(stdout).toMatch(/native\s+1024² px, 16 px per token, 4 latent channels/);
    expect(stdout).toMatch(/rope\s+axes 4\/4\/4\/4, θ 2000/);
    expect(stdout).toMatch(/schedule\s+dynamic shift, FLUX\.2's empirical μ/);
  }, 60_000);

  it('generate makes a 4096×1024 banner with dy-yarn', async () => {
    const out = join(root, 'banner.png');
    const { stdout } = await dype('generate', '-p', 'a cat on a mat', '-W', '4096', '-H', '1024', '--seed', '3', '--steps', '1', '--method', 'dy-yarn', '--model', bundle, '--device', 'cpu', '-o', out);
    expect(stdout).toMatch(/4096×1024 png, seed 3, 1 steps? dy-yarn/);
    const png = readFileSync(out);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([4096, 1024]);
    expect(readPngText(png)).toMatchObject({ method: 'dy-yarn', prompt: 'a cat on a mat' });
  }, 240_000);
});
