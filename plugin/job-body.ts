import type { GenerationParams, JobBody } from './messages.ts';

/** The companion request for one frame: fields left at the model's default (null) are left out. */
export function jobBody(id: string, params: GenerationParams, size: { width: number; height: number }): JobBody {
  return {
    id,
    prompt: params.prompt,
    width: size.width,
    height: size.height,
    seed: params.seed,
    method: params.method,
    format: params.format,
    ...(params.steps === null ? {} : { steps: params.steps }),
    ...(params.guidance === null ? {} : { guidance: params.guidance }),
    ...(params.dypeScale == null ? {} : { dypeScale: params.dypeScale }),
    ...(params.dypeExponent == null ? {} : { dypeExponent: params.dypeExponent }),
  };
}
