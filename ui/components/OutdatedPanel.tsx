import type { FrameInfo } from '../../runtime/contract/index.ts';
import { shorten, size } from '../format.ts';

interface Props {
  frames: FrameInfo[];
  /** Frames with a job in progress. */
  busy: ReadonlySet<string>;
  connected: boolean;
  onRegenerate: (nodeIds: string[]) => void;
}

/** Frames resized since their image was made, each with Regenerate, and Regenerate all. */
export function OutdatedPanel({ frames, busy, connected, onRegenerate }: Props) {
  const idle = frames.filter((f) => !busy.has(f.id));
  return (
    <section class="panel" aria-labelledby="outdated-title">
      <div class="row">
        <h2 id="outdated-title" class="grow">
          Out of date ({frames.length})
        </h2>
        {idle.length > 1 && (
          <button type="button" disabled={!connected} onClick={() => onRegenerate(idle.map((f) => f.id))}>
            Regenerate all out-of-date
          </button>
        )}
      </div>
      <p class="muted small">These frames were resized; Regenerate uses the same prompt and seed at the new size.</p>
      <ul class="outdated">
        {frames.map((f) => (
          <li key={f.id} class="row">
            <div class="grow">
              <div class="name">{shorten(f.name, 28)}</div>
              <div class="muted small">
                {f.generation ? `${size(f.generation.frameWidth, f.generation.frameHeight)} → ` : ''}
                {size(f.width, f.height)} pt · {f.outdated === 'aspect' ? 'shape changed' : 'size changed'} · new image {f.target.width} × {f.target.height} px
              </div>
            </div>
            <button type="button" disabled={!connected || busy.has(f.id)} aria-label={`Regenerate ${f.name}`} onClick={() => onRegenerate([f.id])}>
              {busy.has(f.id) ? 'Generating…' : 'Regenerate'}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
