/**
 * The architecture table: which checkpoints `dype convert` recognises, from key names alone.
 *
 * Each entry names marker keys that must all be present (after a common key prefix, so ComfyUI's
 * all-in-one files with `model.diffusion_model.`, `vae.`, `text_encoders.clip_l.transformer.` … are
 * found too). Sizes are never taken from here: each component's builder derives them from shapes.
 * The first matching entry wins, so more specific architectures come before the ones they resemble
 * (FLUX.2 shares FLUX.1's block names).
 *
 * A new family goes here as entries with `supported: false` until its builders exist; then it gets
 * a ConvertRecipe in runtime/convert/recipes/ (see runtime/families/README.md). FLUX.2 [klein]
 * (4-axis RoPE, Qwen3 text encoder, 32-channel VAE with a BatchNorm latent) has its builders in
 * flux2.ts, qwen3.ts and vae-flux2.ts.
 */

import type { FamilyId } from '../bundle/config.ts';

export type ComponentKind = 'transformer' | 'vae' | 'clip' | 't5' | 'qwen3';

export const COMPONENT_LABELS: Readonly<Record<ComponentKind, string>> = Object.freeze({
  transformer: 'diffusion transformer',
  vae: 'VAE',
  clip: 'CLIP-L text encoder',
  t5: 'T5-XXL text encoder',
  qwen3: 'Qwen3 text encoder',
});

export interface Architecture {
  readonly id: string;
  readonly family: FamilyId;
  readonly component: ComponentKind;
  /** What `--scan` and the report call it. */
  readonly label: string;
  /** Key naming scheme, where a component has more than one. */
  readonly naming?: 'bfl' | 'diffusers';
  readonly markers: readonly string[];
  /** Recognised so it can be named, but no builder yet. */
  readonly supported: boolean;
  /** Where users usually keep it (for messages about a missing component). */
  readonly usualFiles: string;
}

export const ARCHITECTURES: readonly Architecture[] = Object.freeze([
  {
    // FLUX.2 [dev] (32B, Mistral Small text encoder): klein's block names plus a guidance embedding.
    id: 'flux2-dev-transformer',
    family: 'flux2',
    component: 'transformer',
    label: 'FLUX.2 [dev] transformer',
    naming: 'bfl',
    markers: ['double_stream_modulation_img.lin.weight', 'guidance_in.in_layer.weight'],
    supported: false,
    usualFiles: 'flux2_dev*.safetensors',
  },
  {
    id: 'flux2-transformer',
    family: 'flux2',
    component: 'transformer',
    label: 'FLUX.2 transformer',
    naming: 'bfl',
    markers: ['double_stream_modulation_img.lin.weight', 'double_blocks.0.img_attn.qkv.weight', 'single_stream_modulation.lin.weight'],
    supported: true,
    usualFiles: 'flux-2-klein-4b.safetensors (or flux-2-klein-9b.safetensors; ComfyUI/models/diffusion_models)',
  },
  {
    id: 'flux1-transformer-bfl',
    family: 'flux1',
    component: 'transformer',
    label: 'FLUX.1 transformer (BFL keys)',
    naming: 'bfl',
    markers: ['img_in.weight', 'double_blocks.0.img_attn.qkv.weight', 'double_blocks.0.img_mod.lin.weight', 'final_layer.linear.weight'],
    supported: true,
    usualFiles: 'flux1-dev.safetensors or flux1-schnell.safetensors (ComfyUI/models/diffusion_models or unet, Forge models/Stable-diffusion)',
  },
  {
    id: 'flux1-transformer-diffusers',
    family: 'flux1',
    component: 'transformer',
    label: 'FLUX.1 transformer (diffusers keys)',
    naming: 'diffusers',
    markers: ['x_embedder.weight', 'transformer_blocks.0.attn.to_q.weight', 'transformer_blocks.0.norm1.linear.weight', 'proj_out.weight'],
    supported: true,
    usualFiles: 'transformer/diffusion_pytorch_model-*.safetensors of a diffusers FLUX.1 folder',
  },
  {
    id: 'flux2-vae',
    family: 'flux2',
    component: 'vae',
    label: 'FLUX.2 VAE',
    // FLUX.1's key names plus the latent BatchNorm's statistics and the quant convs.
    markers: ['bn.running_mean', 'bn.running_var', 'decoder.post_quant_conv.weight', 'decoder.conv_in.weight'],
    supported: true,
    usualFiles: 'flux2-vae.safetensors (ComfyUI/models/vae)',
  },
  {
    id: 'flux1-vae',
    family: 'flux1',
    component: 'vae',
    label: 'FLUX VAE',
    markers: ['decoder.conv_in.weight', 'decoder.conv_out.weight', 'encoder.conv_in.weight'],
    supported: true,
    usualFiles: 'ae.safetensors (ComfyUI/models/vae) or vae/diffusion_pytorch_model.safetensors',
  },
  {
    id: 'clip-l',
    family: 'flux1',
    component: 'clip',
    label: 'CLIP-L text encoder',
    markers: ['text_model.embeddings.token_embedding.weight', 'text_model.final_layer_norm.weight'],
    supported: true,
    usualFiles: 'clip_l.safetensors (ComfyUI/models/clip or text_encoders) or text_encoder/model.safetensors',
  },
  {
    id: 't5-xxl',
    family: 'flux1',
    component: 't5',
    label: 'T5-XXL text encoder',
    markers: ['encoder.block.0.layer.0.SelfAttention.q.weight', 'encoder.final_layer_norm.weight'],
    supported: true,
    usualFiles: 't5xxl_fp16.safetensors or t5xxl_fp8_e4m3fn.safetensors (ComfyUI/models/clip or text_encoders) or text_encoder_2/',
  },
  {
    id: 'qwen3',
    family: 'flux2',
    component: 'qwen3',
    label: 'Qwen3 text encoder',
    // q_norm tells Qwen3 from Llama/Qwen2-style decoders with the same other names.
    markers: ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_norm.weight', 'model.norm.weight'],
    supported: true,
    usualFiles: 'qwen_3_4b.safetensors (qwen_3_8b for klein 9B; ComfyUI/models/text_encoders) or text_encoder/ of a diffusers FLUX.2 [klein] folder',
  },
] satisfies Architecture[]);

export interface Recognised {
  architecture: Architecture;
  /** Key prefix of this component in the file ('' for a plain checkpoint). */
  prefix: string;
}

/**
 * Every component in a checkpoint's key set: for each architecture, each prefix under which all of
 * its markers are present. A prefix claimed by an earlier entry is not matched again.
 */
export function recognise(keys: Iterable<string>): Recognised[] {
  const all = new Set(keys);
  const found: Recognised[] = [];
  for (const architecture of ARCHITECTURES) {
    const [first, ...rest] = architecture.markers;
    for (const key of all) {
      if (!key.endsWith(first)) continue;
      const prefix = key.slice(0, key.length - first.length);
      if (prefix && !prefix.endsWith('.')) continue;
      if (found.some((f) => f.prefix === prefix)) continue;
      if (rest.every((marker) => all.has(prefix + marker))) found.push({ architecture, prefix });
    }
  }
  return found;
}
