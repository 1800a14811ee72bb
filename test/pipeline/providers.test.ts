// When WebGPU may be used: the pure decision over the adapter probe, and parsing the probe's answer.
import { describe, expect, it } from 'vitest';
import { webgpuRefusal } from '../../runtime/pipeline/providers.ts';
import { describeAdapter, parseProbeOutput, type WebGpuAdapter } from '../../runtime/pipeline/webgpu-adapter.ts';

const nvidia: WebGpuAdapter = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200', software: false, shaderF16: true };
const swiftshader: WebGpuAdapter = { vendor: 'google', architecture: 'swiftshader', device: 'swiftshader-device-subzero-', description: 'SwiftShader driver 5.0.0', software: true, shaderF16: false };
const probeLine = (o: object) => `Warning: noise from Dawn\n${JSON.stringify(o)}\n`;

describe('webgpuRefusal', () => {
  it('auto takes a hardware adapter, for float32 and float16 graphs alike', () => {
    expect(webgpuRefusal({ adapter: nvidia }, { auto: true, float16: false })).toBeNull();
    expect(webgpuRefusal({ adapter: nvidia }, { auto: true, float16: true })).toBeNull();
  });

  it('auto never takes a software adapter; asked for by name, it is used', () => {
    expect(webgpuRefusal({ adapter: swiftshader }, { auto: true, float16: false })).toBe(
      'only a software adapter: google swiftshader (SwiftShader driver 5.0.0), software; it is slower than cpu',
    );
    expect(webgpuRefusal({ adapter: swiftshader }, { auto: false, float16: false })).toBeNull();
  });

  it('float16 graphs need shader-f16, by name too', () => {
    const noF16 = { ...nvidia, shaderF16: false };
    expect(webgpuRefusal({ adapter: noF16 }, { auto: false, float16: true })).toMatch(/^the adapter \(nvidia hopper \(NVIDIA H200\), hardware\) lacks shader-f16/);
    expect(webgpuRefusal({ adapter: noF16 }, { auto: false, float16: false })).toBeNull();
  });

  it('no adapter: auto gives the probe’s reason; by name, ORT gets its own try', () => {
    const none = { adapter: null, reason: 'no WebGPU adapter (no Vulkan, D3D12 or Metal driver that Dawn accepts)' };
    expect(webgpuRefusal(none, { auto: true, float16: false })).toBe(none.reason);
    expect(webgpuRefusal(none, { auto: false, float16: false })).toBeNull();
  });
});

describe('parseProbeOutput', () => {
  const answer = { vendor: 'amd', architecture: 'rdna-3', device: '', description: 'AMD Radeon RX 7900 XTX (RADV NAVI31)', fallback: false, shaderF16: true };

  it('reads the last line (Dawn may print warnings before it)', () => {
    expect(parseProbeOutput(probeLine(answer))).toEqual({ adapter: { vendor: 'amd', architecture: 'rdna-3', device: '', description: answer.description, shaderF16: true, software: false } });
  });

  it('a fallback adapter, or a known software driver not flagged as one, is software', () => {
    expect(parseProbeOutput(probeLine({ ...answer, fallback: true })).adapter?.software).toBe(true);
    expect(parseProbeOutput(probeLine({ ...answer, vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).adapter?.software).toBe(true);
    expect(parseProbeOutput(probeLine({ ...answer, vendor: 'microsoft', description: 'Microsoft Basic Render Driver' })).adapter?.software).toBe(true);
  });

  it('no adapter, or an answer that is not one, becomes a reason', () => {
    expect(parseProbeOutput(probeLine({ none: 'no WebGPU adapter' }))).toEqual({ adapter: null, reason: 'no WebGPU adapter' });
    expect(parseProbeOutput('')).toEqual({ adapter: null, reason: 'WebGPU adapter query gave no answer' });
    expect(parseProbeOutput('{"vendor": 3}')).toMatchObject({ adapter: null, reason: expect.stringMatching(/gave no answer \(\{"vendor": 3\}\)/) });
  });

  it('describes an adapter in one line', () => {
    expect(describeAdapter(swiftshader)).toBe('google swiftshader (SwiftShader driver 5.0.0), software');
    expect(describeAdapter({ ...nvidia, vendor: '', architecture: '', description: '' })).toBe('unknown adapter, hardware');
  });
});
