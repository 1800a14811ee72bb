import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ACTIONS, fields, GENERATION_DEFAULTS, GENERATION_METHODS, MAX_DYPE_SCALE, MAX_IMAGE_SIDE, MAX_SEED, resolveDypeExponent, UPSCALES, type Density, type DypeExponent, type FrameInfo, type GenerationMethod, type PixelSize, type SelectionState, type Settings } from '../../runtime/contract/index.ts';
import { ACTION_INFO } from '../actions.ts';
import type { Health } from '../companion-client.ts';
import { megapixels, randomSeed, shorten, size } from '../format.ts';
import { METHOD_INFO } from '../methods.ts';
import { tileRects } from '../tile-rects.ts';

interface Props {
  settings: Settings;
  selection: SelectionState;
  health: Health | null;
  /** Why Generate is disabled, or null when it is enabled. */
  blocked: string | null;
  update: (patch: Partial<Settings>) => void;
  onGenerate: () => void;
  /** Shown at the top of the panel (the demo-model note). */
  notice?: ComponentChildren;
}

const SCALES = [1, 2, 3, 4] as const;

/** Longest sides offered for the connected model: its native side and 2× and 4× it (DyPE's range), within its limit. */
export function sizePresets(native: number, maxSide: number): number[] {
  return [1, 2, 4].map((k) => k * native).filter((px) => px <= maxSide);
}

interface Target {
  name: string;
  width: number;
  height: number;
  target: PixelSize;
  /** The picture the frame shows now, in pixels. */
  image: { width: number; height: number } | null;
}

/** λt values offered besides the model default and auto (ComfyUI-DyPE's advice: 0.5, 1, 2). */
const EXPONENT_CHOICES = [0.5, 1, 2, 3];

/** What λt each target gets, said before generating; static methods do not use λ at all. */
function exponentSummary(targets: Target[], method: GenerationMethod, chosen: DypeExponent | null, health: Health | null): string {
  if (!method.startsWith('dy-')) return 'Static methods do not use λs or λt.';
  const exponent = chosen ?? health?.defaultDypeExponent;
  if (!health || exponent === undefined || targets.length === 0) return 'k(t) = λs·t^λt: how strongly positions are rescaled, and how fast that fades.';
  const parts = targets.slice(0, 3).map((t) => {
    const scale = Math.max(t.target.width, t.target.height) / health.nativeResolution;
    const value = resolveDypeExponent(exponent, t.target.width, t.target.height, health.nativeResolution);
    return `${targets.length > 1 ? `${shorten(t.name, 16)}: ` : ''}λt ${value}${exponent === 'auto' ? ' (auto)' : ''} at ${scale.toFixed(1)}× native`;
  });
  return `${parts.join(' · ')}${targets.length > 3 ? ' …' : ''}`;
}

/**
 * The selected frames (or the frame Generate makes) and the pixels each asks for. Refine asks for its
 * picture × the upscale (the companion's limits may make it smaller; the queue shows the exact size).
 */
function targetsOf(selection: SelectionState, settings: Settings): Target[] {
  if (selection.frames.length > 0) {
    return selection.frames.map((f: FrameInfo) => {
      const upscaled = settings.action === 'refine' && f.image ? { width: f.image.width * settings.upscale, height: f.image.height * settings.upscale, clamped: false } : f.target;
      return { name: f.name, width: f.width, height: f.height, target: upscaled, image: f.image };
    });
  }
  if (selection.newFrame) return [{ name: 'New frame', ...selection.newFrame, image: null }];
  return [];
}

/** Prompt, resolution, seed and the advanced options; the resulting pixel size before generating. */
export function GeneratePanel({ settings, selection, health, blocked, update, onGenerate, notice }: Props) {
  const targets = targetsOf(selection, settings);
  const density = settings.density;
  const action = settings.action;
  const keepsPicture = action !== 'reimagine';
  const withoutPicture = keepsPicture ? selection.frames.filter((f) => !f.image).length : 0;
  const tiles = targets.reduce((n, t) => n + (Math.max(t.target.width, t.target.height) > MAX_IMAGE_SIDE ? tileRects(t.target.width, t.target.height).length : 0), 0);
  const clamped = targets.some((t) => t.target.clamped);
  const count = selection.frames.length;
  const verb = action === 'reimagine' ? 'Generate' : ACTION_INFO[action].label;
  const label = count > 1 ? `${verb} ${count} images` : verb;
  const [scaleProblem, setScaleProblem] = useState<string | null>(null);
  const exponentChoices = [...new Set([...EXPONENT_CHOICES, ...(typeof settings.dypeExponent === 'number' ? [settings.dypeExponent] : [])])].sort((a, b) => a - b);

  function setDensity(next: Density) {
    update({ density: next });
  }

  function numberOrNull(value: string): number | null {
    const n = Number(value);
    return value.trim() === '' || !Number.isFinite(n) ? null : n;
  }

  return (
    <section class="panel" aria-labelledby="generate-title">
      <h2 id="generate-title">Generate</h2>
      {notice}
      <fieldset>
        <legend>Action</legend>
        <div class="segmented" role="radiogroup" aria-label="Action" aria-describedby="action-help">
          {ACTIONS.map((a) => (
            <label key={a} class={action === a ? 'on' : ''} title={ACTION_INFO[a].help}>
              <input type="radio" name="action" checked={action === a} onChange={() => update({ action: a })} />
              {ACTION_INFO[a].label}
            </label>
          ))}
        </div>
        <p id="action-help" class="muted small">
          {ACTION_INFO[action].help}
        </p>
      </fieldset>

      <div class="targets" data-testid="targets" aria-live="polite">
        {targets.length === 0 && <p class="muted">Select one or more frames: there is no frame in the selection.</p>}
        {selection.frames.length === 0 && selection.newFrame && <p class="muted">Nothing selected: Generate makes a new frame.</p>}
        <ul>
          {targets.slice(0, 4).map((t) => (
            <li key={t.name + t.width}>
              <span class="name">{shorten(t.name, 28)}</span>
              <span class="muted"> {action === 'refine' && t.image ? `${t.image.width} × ${t.image.height} px` : `${size(t.width, t.height)} pt`} → </span>
              <strong>
                {t.target.width} × {t.target.height} px
              </strong>
              <span class="muted"> · {megapixels(t.target.width, t.target.height)}</span>
            </li>
          ))}
          {targets.length > 4 && <li class="muted">and {targets.length - 4} more</li>}
        </ul>
        {tiles > 0 && <p class="muted">Above Figma’s {MAX_IMAGE_SIDE} px image limit: placed as {tiles} tiles in a locked group.</p>}
        {clamped && health && <p class="warning">Limited to what the companion allows ({health.maxSide} px per side, {megapixels(health.maxPixels, 1)}).</p>}
        {selection.skipped > 0 && <p class="muted">{selection.skipped} selected layer(s) are neither frames nor placed images and are skipped.</p>}
        {withoutPicture > 0 && <p class="warning">{withoutPicture} selected frame(s) show no picture to {action}; they are skipped.</p>}
      </div>

      <label for="prompt">Prompt</label>
      <textarea
        id="prompt"
        rows={3}
        value={settings.prompt}
        placeholder="A lighthouse on a cliff at dawn, mist over the sea"
        onInput={(e) => update({ prompt: e.currentTarget.value })}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.metaKey || e.ctrlKey) && !blocked) onGenerate();
        }}
      />

      {action === 'refine' ? (
        <fieldset>
          <legend>Upscale</legend>
          <div class="segmented" role="radiogroup" aria-label="Upscale">
            {UPSCALES.map((u) => (
              <label key={u} class={settings.upscale === u ? 'on' : ''}>
                <input type="radio" name="upscale" checked={settings.upscale === u} onChange={() => update({ upscale: u })} />
                {u === 1 ? 'Same size' : `${u}×`}
              </label>
            ))}
          </div>
        </fieldset>
      ) : (
        <fieldset>
          <legend>Resolution</legend>
          <div class="segmented" role="radiogroup" aria-label="Pixel density">
            {SCALES.map((s) => (
              <label key={s} class={density.kind === 'scale' && density.scale === s ? 'on' : ''}>
                <input type="radio" name="density" checked={density.kind === 'scale' && density.scale === s} onChange={() => setDensity({ kind: 'scale', scale: s })} />
                {s}×
              </label>
            ))}
            <label class={density.kind === 'longest' ? 'on' : ''}>
              <input type="radio" name="density" checked={density.kind === 'longest'} onChange={() => setDensity({ kind: 'longest', px: MAX_IMAGE_SIDE })} />
              Longest side
            </label>
          </div>
          {density.kind === 'longest' && (
            <div class="row">
              <label for="longest" class="label-inline">
                Pixels on the longest side
              </label>
              <input
                id="longest"
                type="number"
                min={64}
                max={health?.maxSide ?? 16384}
                step={1}
                value={density.px}
                onChange={(e) => {
                  const px = Math.round(Number(e.currentTarget.value));
                  if (px > 0) setDensity({ kind: 'longest', px });
                }}
              />
              <span class="muted">px</span>
            </div>
          )}
          {density.kind === 'longest' && health && (
            <div class="segmented" role="group" aria-label="Sizes for this model">
              {sizePresets(health.nativeResolution, health.maxSide).map((px) => (
                <button key={px} type="button" class={density.px === px ? 'on' : ''} onClick={() => setDensity({ kind: 'longest', px })}>
                  {px}
                </button>
              ))}
            </div>
          )}
        </fieldset>
      )}

      <div class="row">
        <label for="seed" class="label-inline">
          Seed
        </label>
        <input
          id="seed"
          type="number"
          min={0}
          max={MAX_SEED}
          step={1}
          value={settings.seed}
          onChange={(e) => {
            const seed = fields.seed.safeParse(Math.round(Number(e.currentTarget.value)));
            if (seed.success) update({ seed: seed.data });
          }}
        />
        <button type="button" class="icon-text" aria-pressed={settings.seedLocked} onClick={() => update({ seedLocked: !settings.seedLocked })} title="Keep this seed for the next generations">
          <LockIcon locked={settings.seedLocked} />
          {settings.seedLocked ? 'Locked' : 'Lock'}
        </button>
        <button type="button" onClick={() => update({ seed: randomSeed() })}>
          Randomise
        </button>
      </div>
      <p class="muted small">{settings.seedLocked ? 'The same seed is used every time.' : 'A new random seed is picked for every Generate.'}</p>

      <details class="advanced">
        <summary>Advanced</summary>
        <label for="method">Method</label>
        <select id="method" value={settings.method} aria-describedby="method-help" onChange={(e) => update({ method: e.currentTarget.value as GenerationMethod })}>
          {GENERATION_METHODS.filter((m) => !health || health.methods.includes(m)).map((m) => (
            <option key={m} value={m}>
              {METHOD_INFO[m].label}
            </option>
          ))}
        </select>
        <p id="method-help" class="muted small">
          {METHOD_INFO[settings.method].help}
        </p>
        <div class="grid2">
          <div>
            <label for="dype-scale">DyPE strength λs</label>
            <input
              id="dype-scale"
              type="number"
              min={0}
              max={MAX_DYPE_SCALE}
              step={0.1}
              placeholder={health?.defaultDypeScale !== undefined ? `default ${health.defaultDypeScale}` : 'default'}
              value={settings.dypeScale ?? ''}
              aria-describedby="dype-help"
              onChange={(e) => {
                const input = e.currentTarget;
                // empty: the model's default; text a number input cannot read is not empty
                if (input.value.trim() === '' && !input.validity.badInput) {
                  setScaleProblem(null);
                  update({ dypeScale: null });
                  return;
                }
                const parsed = fields.dypeScale.safeParse(numberOrNull(input.value));
                setScaleProblem(parsed.success ? null : `λs ${parsed.error.issues[0]?.message ?? 'is not valid'}.`);
                if (parsed.success) update({ dypeScale: parsed.data });
              }}
            />
          </div>
          <div>
            <label for="dype-exponent">DyPE fade λt</label>
            <select
              id="dype-exponent"
              value={settings.dypeExponent === null ? '' : String(settings.dypeExponent)}
              aria-describedby="dype-help"
              onChange={(e) => {
                const v = e.currentTarget.value;
                update({ dypeExponent: v === '' ? null : v === 'auto' ? 'auto' : Number(v) });
              }}
            >
              <option value="">{health?.defaultDypeExponent !== undefined ? `Default (${health.defaultDypeExponent})` : 'Default'}</option>
              <option value="auto">Auto by size</option>
              {exponentChoices.map((v) => (
                <option key={v} value={String(v)}>
                  {v}
                </option>
              ))}
            </select>
          </div>
        </div>
        {scaleProblem && (
          <p class="warning small" role="alert">
            {scaleProblem}
          </p>
        )}
        <p id="dype-help" class="muted small" data-testid="dype-exponent">
          {exponentSummary(targets, settings.method, settings.dypeExponent, health)}
        </p>
        <div class="grid2">
          <div>
            <label for="steps">Steps</label>
            <input
              id="steps"
              type="number"
              min={1}
              max={health?.maxSteps ?? 100}
              placeholder={health ? `default ${health.defaultSteps}` : 'default'}
              value={settings.steps ?? ''}
              onChange={(e) => update({ steps: numberOrNull(e.currentTarget.value) === null ? null : Math.round(numberOrNull(e.currentTarget.value)!) })}
            />
          </div>
          <div>
            <label for="guidance">Guidance</label>
            <input
              id="guidance"
              type="number"
              min={0}
              max={30}
              step={0.5}
              placeholder={health?.defaultGuidance != null ? `default ${health.defaultGuidance}` : 'default'}
              value={settings.guidance ?? ''}
              onChange={(e) => update({ guidance: numberOrNull(e.currentTarget.value) })}
            />
          </div>
        </div>
        <label for="strength">Strength (Refine and Extend)</label>
        <input
          id="strength"
          type="number"
          min={0}
          max={1}
          step={0.05}
          placeholder={`default ${GENERATION_DEFAULTS.strength}`}
          aria-describedby="strength-help"
          value={settings.strength ?? ''}
          onChange={(e) => {
            const value = numberOrNull(e.currentTarget.value);
            const strength = value === null ? null : fields.strength.safeParse(value);
            if (strength === null || strength.success) update({ strength: strength === null ? null : strength.data });
          }}
        />
        <p id="strength-help" class="muted small">
          How much is redrawn: low keeps the picture close, 1 draws it anew from noise.
        </p>
        <label for="format">File format</label>
        <select id="format" value={settings.format} onChange={(e) => update({ format: e.currentTarget.value as Settings['format'] })}>
          <option value="png">PNG (lossless)</option>
          <option value="jpg">JPEG (smaller files)</option>
        </select>
      </details>

      <button type="button" class="primary wide" disabled={blocked !== null} aria-describedby={blocked ? 'generate-blocked' : undefined} onClick={onGenerate}>
        {label}
      </button>
      {blocked && (
        <p id="generate-blocked" class="muted small">
          {blocked}
        </p>
      )}
    </section>
  );
}

function LockIcon({ locked }: { locked: boolean }) {
  return (
    <svg width="10" height="12" viewBox="0 0 10 12" aria-hidden="true" focusable="false">
      <rect x="0.5" y="5.5" width="9" height="6" rx="1" fill="none" stroke="currentColor" />
      <path d={locked ? 'M2.5 5.5V3.5a2.5 2.5 0 0 1 5 0v2' : 'M2.5 5.5V3.5a2.5 2.5 0 0 1 5 0'} fill="none" stroke="currentColor" />
    </svg>
  );
}
