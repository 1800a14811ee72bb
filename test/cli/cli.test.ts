// The `dype` command as a user runs it: a real child process through bin/dype.js.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../runtime/pipeline/image.ts';
import { useSwiftShader } from '../helpers/swiftshader.ts';

const run = promisify(execFile);
/** The CLI children inherit SwiftShader as their only Vulkan driver (see the info test under auto). */
const noSwiftShader = useSwiftShader();
let root: string;
let bundle: string;

const dype = (...args: string[]) =>
  run(process.execPath, ['bin/dype.js', ...args], { env: { ...process.env, XDG_CACHE_HOME: join(root, 'cache'), DYPE_MODEL: '' }, maxBuffer: 1 << 24 });

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'dype-cli-'));
  bundle = join(root, 'bundle');
  const { stdout } = await dype('demo-model', bundle);
  expect(stdout).toMatch(/untrained/);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('dype CLI', () => {
  it('generate writes an image of exactly the asked size with a summary line', async () => {
    const out = join(root, 'out', 'kite.png');
    const { stdout, stderr } = await dype('generate', '--prompt', 'a red kite', '-W', '1000', '-H', '600', '--seed', '5', '--steps', '2', '--model', bundle, '--device', 'cpu', '-o', out);
    expect(stderr).toMatch(/demo model/);
    expect(stdout).toMatch(/1000×600 png, seed 5, 2 steps dy-yarn \(λs 2, λt 2\) \| \d+ ms\/step, total [\d.]+ s .*peak RSS \d+ MiB/);
    const png = readFileSync(out);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([1000, 600]);
    expect(readPngText(png)).toMatchObject({ prompt: 'a red kite', seed: '5', steps: '2' });
  });

  it('a 4096×1024 banner with dy-vision-yarn records the method and λ values, auto resolved by the 4× scale', async () => {
    const out = join(root, 'banner.png');
    const { stdout } = await dype('generate', '-p', 'banner', '-W', '4096', '-H', '1024', '--seed', '3', '--steps', '2', '--method', 'dy-vision-yarn', '--dype-scale', '1.5', '--dype-exponent', 'auto', '--model', bundle, '--device', 'cpu', '-o', out);
    expect(stdout).toMatch(/4096×1024 png, seed 3, 2 steps dy-vision-yarn \(λs 1.5, λt 2 auto\)/);
    const text = readPngText(readFileSync(out));
    expect(text).toMatchObject({ method: 'dy-vision-yarn', dype: 'scale 1.5, exponent 2 (auto)' });
    expect(JSON.parse(text.parameters)).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 2, dypeExponentAuto: true });
  });

  it('the output format follows the file name', async () => {
    const out = join(root, 'kite.jpg');
    await dype('generate', '-p', 'kite', '-W', '256', '-H', '256', '--seed', '1', '--steps', '1', '--model', bundle, '--device', 'cpu', '-o', out);
    expect((await sharp(out).metadata()).format).toBe('jpeg');
  });

  it('info prints the bundle, its contract and the providers', async () => {
    const { stdout } = await dype('info', '--model', bundle, '--device', 'cpu');
    expect(stdout).toMatch(/model +dype-demo \(demo/);
    expect(stdout).toMatch(/fed as rope_omega \+ rope_mscale/);
    expect(stdout).toMatch(/provider +cpu/);
  });

  it.skipIf(noSwiftShader)('info under auto names the WebGPU adapter and why each skipped provider was skipped', async () => {
    const { stdout } = await dype('info', '--model', bundle, '--device', 'auto');
    expect(stdout).toMatch(/^provider +cpu \(auto order here: .*webgpu → cpu\)$/m);
    expect(stdout).toMatch(/^(skipped)? +webgpu: only a software adapter: google swiftshader \(SwiftShader driver [\d.]+\), software; it is slower than cpu$/m);
    expect(stdout).toMatch(/^webgpu +google swiftshader \(SwiftShader driver [\d.]+\), software, shader-f16 no$/m);
  });

  it('info prints the memory plan: each stage, where it runs, its memory, and whether it fits', async () => {
    const { stdout } = await dype('info', '--model', bundle, '--device', 'cpu', '-W', '2048', '-H', '2048');
    expect(stdout).toMatch(/^memory plan for 1024×1024 on cpu \(transformer in float32, --memory auto → high: all sessions kept loaded\)$/m);
    for (const stage of ['text-encoders', 'transformer', 'vae-decode', 'vae-encode']) expect(stdout).toMatch(new RegExp(`^  ${stage} +cpu +float32 +weights +[\\d.]+ [MG]B +activations +[\\d.]+ [MG]B +fits$`, 'm'));
    expect(stdout).toMatch(/^memory plan for 2048×2048 on cpu/m);
    expect(stdout).toMatch(/^largest +[\d.]+ MP \(about \d+×\d+\) on this machine$/m);
  });

  // SwiftShader stands in for a GPU whose memory is given: 0.64 GB leaves 0.10 GB after the driver's reserve.
  it.skipIf(noSwiftShader)('generate refuses a size the GPU cannot hold, before loading, with the numbers; a size that fits runs', async () => {
    const gpu = ['--model', bundle, '--device', 'webgpu', '--gpu-memory', '0.64'];
    const info = await dype('info', ...gpu, '-W', '4096', '-H', '4096');
    expect(info.stdout).toMatch(/^  transformer +gpu +float32 .* DOES NOT FIT$/m);
    const refused = dype('generate', '-p', 'too big', '-W', '4096', '-H', '4096', '--steps', '1', ...gpu, '-o', join(root, 'big.png'));
    await expect(refused).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/error: 4096×4096 does not fit on webgpu: transformer needs 0\.\d+ GB \(weights [\d.]+ MB \+ activations 0\.\d+ GB at 4096×4096\) but the GPU allows 0\.10 GB; the largest image that fits is about (\d+)×\1$/m),
    });
    await expect(refused.catch((e: { stdout: string }) => e.stdout)).resolves.toBe('');
    const { stdout } = await dype('generate', '-p', 'fits', '-W', '256', '-H', '256', '--steps', '1', '--seed', '2', ...gpu, '-o', join(root, 'small.png'));
    expect(stdout).toMatch(/256×256 png/);
  });

  it('bad arguments fail with a clear message and exit code', async () => {
    await expect(dype('generate', '-p', 'x', '--method', 'fancy', '-o', join(root, 'x.png'))).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/--method.*fancy.*Allowed choices are dy-yarn/s) });
    await expect(dype('generate', '-p', 'x', '--dype-scale', '9', '-o', join(root, 'x.png'))).rejects.toMatchObject({ stderr: expect.stringMatching(/dype-scale must be a number from 0 to 8/) });
    await expect(dype('generate', '-p', 'x', '--yarn-scaling', 'square', '-o', join(root, 'x.png'))).rejects.toMatchObject({ stderr: expect.stringMatching(/--yarn-scaling.*square.*Allowed choices are anisotropic, isotropic/s) });
    await expect(dype('generate', '-p', 'x', '--dype-exponent', 'fast', '-o', join(root, 'x.png'))).rejects.toMatchObject({ stderr: expect.stringMatching(/dype-exponent must be "auto" or a number from 0 to 8/) });
    await expect(dype('generate', '-p', 'x', '--steps', '-2', '-o', join(root, 'x.png'))).rejects.toMatchObject({ stderr: expect.stringMatching(/steps must be an integer/) });
    // the same rules as the companion's (contract/rules.ts)
    await expect(dype('generate', '-p', 'x', '--guidance', '31', '-o', join(root, 'x.png'))).rejects.toMatchObject({ stderr: expect.stringMatching(/guidance must be a number from 0 to 30/) });
    await expect(dype('generate', '-p', '   ', '-o', join(root, 'x.png'))).rejects.toMatchObject({ stderr: expect.stringMatching(/prompt must be a string of 1 to 2000 characters/) });
    await expect(dype('generate', '-p', 'x', '--model', join(root, 'nope'), '-o', join(root, 'x.png'))).rejects.toMatchObject({ stderr: expect.stringMatching(/model bundle folder not found/) });
    await expect(dype('generate', '-p', 'x', '--memory', 'some', '-o', join(root, 'x.png'))).rejects.toMatchObject({ stderr: expect.stringMatching(/--memory.*some.*Allowed choices are auto, low, high/s) });
    await expect(dype('generate', '-p', 'x', '--gpu-memory', '-1', '-o', join(root, 'x.png'))).rejects.toMatchObject({ stderr: expect.stringMatching(/--gpu-memory must be a number of GB above 0/) });
  });

  it('--help describes every command', async () => {
    const { stdout } = await dype('--help');
    for (const cmd of ['generate', 'demo-model', 'info', 'serve']) expect(stdout).toContain(cmd);
    expect((await dype('generate', '--help')).stdout).toMatch(/--method <name>/);
  });
});
