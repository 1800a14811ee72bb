import { useState } from 'preact/hooks';
import { ACTIONS, type Action, type FrameInfo } from '../../runtime/contract/index.ts';
import { ACTION_INFO } from '../actions.ts';
import { shorten, size } from '../format.ts';

interface Props {
  frames: FrameInfo[];
  /** Frames with a job in progress. */
  busy: ReadonlySet<string>;
  connected: boolean;
  /** The companion can start from a picture; without it every frame is re-imagined. */
  imageToImage: boolean;
  /** `action` null: each frame's proposal. */
  onRegenerate: (nodeIds: string[], action: Action | null) => void;
}

/**
 * Frames resized since their image was made, each with the action it proposes (Refine when the aspect
 * held, Extend when it changed; the user may choose another), Regenerate, and Regenerate all.
 */
export function OutdatedPanel({ frames, busy, connected, imageToImage, onRegenerate }: Props) {
  /** Actions the user chose instead of a frame's proposal. */
  const [chosen, setChosen] = useState<Record<string, Action>>({});
  const idle = frames.filter((f) => !busy.has(f.id));
  const actionOf = (f: FrameInfo): Action => (imageToImage ? (chosen[f.id] ?? f.proposed ?? 'reimagine') : 'reimagine');

  function regenerateAll() {
    // frames left at their proposal go in one batch; each chosen action in one more
    const groups = new Map<Action | null, string[]>();
    for (const f of idle) {
      const action = imageToImage ? (chosen[f.id] ?? null) : 'reimagine';
      groups.set(action, [...(groups.get(action) ?? []), f.id]);
    }
    for (const [action, nodeIds] of groups) onRegenerate(nodeIds, action);
  }

  return (
    <section class="panel" aria-labelledby="outdated-title">
      <div class="row">
        <h2 id="outdated-title" class="grow">
          Out of date ({frames.length})
        </h2>
        {idle.length > 1 && (
          <button type="button" disabled={!connected} onClick={regenerateAll}>
            Regenerate all out-of-date
          </button>
        )}
      </div>
      <p class="muted small">These frames were resized. Refine keeps the picture at the new size, Extend paints the new area around it, Re-imagine draws anew with the same prompt and seed.</p>
      <ul class="outdated">
        {frames.map((f) => (
          <li key={f.id}>
            <div class="name">{shorten(f.name, 40)}</div>
            <div class="muted small">
              {f.generation ? `${size(f.generation.frameWidth, f.generation.frameHeight)} → ` : ''}
              {size(f.width, f.height)} pt · {f.outdated === 'aspect' ? 'shape changed' : 'size changed'} · new image {f.target.width} × {f.target.height} px
            </div>
            <div class="row tight">
              <select
                class="grow"
                aria-label={`Action for ${f.name}`}
                title={ACTION_INFO[actionOf(f)].help}
                value={actionOf(f)}
                onChange={(e) => setChosen({ ...chosen, [f.id]: e.currentTarget.value as Action })}
              >
                {ACTIONS.map((a) => (
                  <option key={a} value={a} disabled={!imageToImage && a !== 'reimagine'}>
                    {ACTION_INFO[a].label}
                    {a === f.proposed ? ' (proposed)' : ''}
                  </option>
                ))}
              </select>
              <button type="button" disabled={!connected || busy.has(f.id)} aria-label={`Regenerate ${f.name}`} onClick={() => onRegenerate([f.id], actionOf(f))}>
                {busy.has(f.id) ? 'Generating…' : 'Regenerate'}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
