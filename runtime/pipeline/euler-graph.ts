/**
 * The flow-matching Euler step x ← x + (σ_next − σ)·v as a two-op ONNX graph, so that on WebGPU the
 * latents stay in GPU memory between steps: the transformer's velocity goes straight in, and the
 * next hidden_states feed comes straight out (cast to the transformer's float type). The latents
 * themselves stay float32, as on the CPU path. Built in code, like the demo model.
 */
import { GraphBuilder, ONNX_DTYPE } from '../onnx/builder.ts';

export type FloatType = 'float32' | 'float16';

/**
 * `onDevice`: outputs latents_next and, for a float16 transformer, hidden_states (both kept on the GPU).
 * Otherwise: outputs latents_next and x0 = x − σ·v (both read back: the last step and previews).
 */
export function eulerStepGraph(velocityType: FloatType, onDevice: boolean): Uint8Array {
  const g = new GraphBuilder(onDevice ? 'euler_step_on_device' : 'euler_step_to_host');
  const dims = ['batch', 'tokens', 'features'];
  g.input('latents', 'float32', dims);
  g.input('velocity', velocityType, dims);
  g.input('dt', 'float32', [1]);
  const velocity = velocityType === 'float32' ? 'velocity' : g.op('Cast', ['velocity'], { to: ONNX_DTYPE.float32 });
  g.op('Add', ['latents', g.op('Mul', [velocity, 'dt'])], {}, { outputs: ['latents_next'] });
  g.output('latents_next', 'float32', dims);
  if (onDevice) {
    // a float16 transformer takes its own copy; a float32 one is fed latents_next itself (no copy per step)
    if (velocityType === 'float16') {
      g.op('Cast', ['latents_next'], { to: ONNX_DTYPE.float16 }, { outputs: ['hidden_states'] });
      g.output('hidden_states', velocityType, dims);
    }
  } else {
    g.input('sigma', 'float32', [1]);
    g.op('Sub', ['latents', g.op('Mul', [velocity, 'sigma'])], {}, { outputs: ['x0'] });
    g.output('x0', 'float32', dims);
  }
  return g.serialize().model;
}
