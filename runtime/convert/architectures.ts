/**
 * The architecture table: which checkpoints `dype convert` recognises, from key names alone.
 *
 * Each entry names marker keys that must all be present (after a common key prefix, so ComfyUI's
 * all-in-one files with `model.diffusion_model.`, `vae.`, `text_encoders.clip_l.transformer.` … are
 * found too). Sizes are never taken from here: each component's builder derives them from shapes.
 * The first matching entry wins, so more specific architectures come before the ones they resemble
 * (FLUX.2 shares FLUX.1's block names).
 *
 * A new family (FLUX.2 [klein]: 4-axis RoPE, Qwen3 text encoder, 32-channel VAE; Z-Image) goes here
 * as entries with `supported: false` until its builders exist; then it gets a ConvertRecipe in
 * runtime/convert/recipes/ (see runtime/families/README.md).
 */

import type { FamilyId } from '../bundle/config.ts';

export type ComponentKind = 'transformer' | 'vae' | 'clip' | 't5';

export const COMPONENT_LABELS: Readonly<Record<ComponentKind, string>> = Object.freeze({
  transformer: 'diffusion transformer',
  vae: 'VAE',
  clip: 'CLIP-L text encoder',
  t5: 'T5-XXL text encoder',
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
    id: 'flux2-transformer',
    family: 'flux2',
    component: 'transformer',
    label: 'FLUX.2 transformer',
    markers: ['double_stream_modulation_img.lin.weight', 'double_blocks.0.img_attn.qkv.weight'],
    supported: false,
    usualFiles: 'flux2-*.safetensors',
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
