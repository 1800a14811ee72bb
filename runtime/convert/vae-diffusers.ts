/**
 * diffusers `AutoencoderKL` checkpoints (a Hub folder's `vae/diffusion_pytorch_model.safetensors`)
 * seen through BFL's `ae.safetensors` names, so one VAE builder serves both. The renaming is the
 * inverse of diffusers' LDM→diffusers VAE conversion (single_file_utils `convert_ldm_vae_checkpoint`):
 * `up_blocks` count from the lowest resolution, BFL's `up` from the highest; `conv_shortcut` is
 * `nin_shortcut`. Only names change: the middle attention's projections keep diffusers' Linear
 * layout [C, C] (BFL's are 1×1 convs [C, C, 1, 1]), which the VAE builder accepts as either.
 */
import type { StoredTensor } from './safetensors.ts';
import { MissingTensorError, type WeightSource } from './weights.ts';

const ATTENTION_NAMES: Readonly<Record<string, string>> = {
  group_norm: 'norm',
  to_q: 'q',
  to_k: 'k',
  to_v: 'v',
  'to_out.0': 'proj_out',
  // Older diffusers checkpoints (before the Attention processor rewrite).
  query: 'q',
  key: 'k',
  value: 'v',
  proj_attn: 'proj_out',
};

/** True when the source holds a diffusers AutoencoderKL (rather than BFL's ae.safetensors). */
export function isDiffusersVae(w: WeightSource): boolean {
  return w.keys('decoder.mid_block.').length > 0 || w.keys('encoder.mid_block.').length > 0;
}

/** The BFL name of one diffusers VAE key, or null for keys the FLUX autoencoder has no use for. */
function bflName(key: string, upLevels: number): string | null {
  const resnet = (rest: string) => rest.replace(/^conv_shortcut\./, 'nin_shortcut.');
  let m: RegExpExecArray | null;
  if ((m = /^(encoder|decoder)\.(conv_in|conv_out)\.(weight|bias)$/.exec(key))) return key;
  if ((m = /^(encoder|decoder)\.conv_norm_out\.(weight|bias)$/.exec(key))) return `${m[1]}.norm_out.${m[2]}`;
  if ((m = /^(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)$/.exec(key))) return `${m[1]}.mid.block_${Number(m[2]) + 1}.${resnet(m[3])}`;
  if ((m = /^(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)$/.exec(key))) {
    const name = ATTENTION_NAMES[m[2]];
    return name ? `${m[1]}.mid.attn_1.${name}.${m[3]}` : null;
  }
  if ((m = /^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(key))) return `encoder.down.${m[1]}.block.${m[2]}.${resnet(m[3])}`;
  if ((m = /^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/.exec(key))) return `encoder.down.${m[1]}.downsample.conv.${m[2]}`;
  if ((m = /^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(key))) return `decoder.up.${upLevels - 1 - Number(m[1])}.block.${m[2]}.${resnet(m[3])}`;
  if ((m = /^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/.exec(key))) return `decoder.up.${upLevels - 1 - Number(m[1])}.upsample.conv.${m[2]}`;
  return null;
}

/** A WeightSource over a diffusers AutoencoderKL that answers to BFL's key names. */
export class DiffusersVaeWeights implements WeightSource {
  readonly origin: string;
  /** BFL name → diffusers name. */
  private readonly names = new Map<string, string>();

  constructor(private readonly inner: WeightSource) {
    // Errors name tensors by their BFL names; the origin says so.
    this.origin = `${inner.origin} (diffusers AutoencoderKL, tensors named as in BFL's ae.safetensors)`;
    for (const quant of ['quant_conv.weight', 'post_quant_conv.weight']) {
      if (inner.has(quant)) throw new Error(`${inner.origin}: has ${quant}, so it is a Stable Diffusion-style VAE, not the FLUX autoencoder (which has no quant convs)`);
    }
    const upLevels = new Set(inner.keys('decoder.up_blocks.').map((k) => k.split('.')[2])).size;
    for (const key of inner.keys()) {
      const name = bflName(key, upLevels);
      if (name) this.names.set(name, key);
    }
  }

  private source(key: string): string {
    const name = this.names.get(key);
    if (!name) throw new MissingTensorError(this.origin, key);
    return name;
  }

  has(key: string): boolean {
    return this.names.has(key);
  }

  tensor(key: string): StoredTensor {
    return this.inner.tensor(this.source(key));
  }

  shape(key: string): readonly number[] {
    return this.inner.shape(this.source(key));
  }

  keys(prefix = ''): string[] {
    return [...this.names.keys()].filter((k) => k.startsWith(prefix));
  }

  value(key: string): string {
    return this.inner.value(this.source(key));
  }
}

/** The source under BFL's names, whichever layout the checkpoint has (the VAE builders call this). */
export function withBflVaeNames(w: WeightSource): WeightSource {
  return w instanceof DiffusersVaeWeights || !isDiffusersVae(w) ? w : new DiffusersVaeWeights(w);
}
