import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { MainToUi, SelectionInfo, UiToMain } from '../plugin/messages.ts';
import './style.css';

function emit(message: UiToMain): void {
  parent.postMessage({ pluginMessage: message }, '*');
}

function App() {
  const [selection, setSelection] = useState<SelectionInfo>({ frames: [] });
  useEffect(() => {
    const onMessage = (event: MessageEvent) => {
      const message = (event.data as { pluginMessage?: MainToUi } | null)?.pluginMessage;
      if (message?.type === 'selection') setSelection(message.selection);
    };
    window.addEventListener('message', onMessage);
    emit({ type: 'ready' });
    return () => window.removeEventListener('message', onMessage);
  }, []);
  return (
    <main>
      <h1>DyPE</h1>
      <p aria-live="polite">
        {selection.frames.length === 0
          ? 'Select a frame to fill it with a generated image.'
          : `${selection.frames.length} frame(s) selected`}
      </p>
    </main>
  );
}

render(<App />, document.getElementById('app')!);
