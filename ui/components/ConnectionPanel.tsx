import { useEffect, useState } from 'preact/hooks';
import { CompanionError, companionUrlProblem, type CompanionClient, type Connection } from '../companion-client.ts';

interface Props {
  url: string;
  /** Companion origins the UI test harness adds to the manifest's. */
  testOrigins: readonly string[];
  connection: Connection;
  client: CompanionClient | null;
  onUrl: (url: string) => void;
  onToken: (token: string | null) => void;
  recheck: () => void;
}

const TITLES: Record<Connection['status'], string> = {
  checking: 'Connecting…',
  connected: 'Connected',
  unpaired: 'Not paired yet',
  'not-running': 'Companion not running',
  blocked: 'Browser blocks this computer',
  'wrong-token': 'Wrong token',
  incompatible: 'Incompatible companion',
  'not-allowed': 'Address not allowed',
};

/** Companion URL, connection status, pairing, and how to start the companion when it is not running. */
export function ConnectionPanel({ url, testOrigins, connection, client, onUrl, onToken, recheck }: Props) {
  const { status, health } = connection;
  const [open, setOpen] = useState(false);
  const [draftUrl, setDraftUrl] = useState(url);
  const [code, setCode] = useState('');
  const [pairError, setPairError] = useState<string | null>(null);
  const [pairing, setPairing] = useState(false);
  useEffect(() => setDraftUrl(url), [url]);

  const connected = status === 'connected';
  const needsPairing = status === 'unpaired' || status === 'wrong-token';
  const showDetails = !connected || open;
  const urlProblem = companionUrlProblem(draftUrl, testOrigins);
  const urlValid = urlProblem === null;
  const draftChanged = draftUrl.trim().replace(/\/+$/, '') !== url;
  // the saved URL's problem is the status text already
  const showUrlProblem = showDetails && !urlValid && draftChanged;

  async function pair() {
    if (!client || code.trim() === '') return;
    setPairing(true);
    setPairError(null);
    try {
      onToken(await client.pair(code.trim()));
      setCode('');
    } catch (error) {
      setPairError(error instanceof CompanionError || error instanceof Error ? error.message : String(error));
    } finally {
      setPairing(false);
    }
  }

  function saveUrl() {
    if (!urlValid) return;
    const next = draftUrl.trim().replace(/\/+$/, '');
    if (next === url) recheck();
    else onUrl(next);
  }

  return (
    <section class={`panel connection status-${status}`} aria-labelledby="connection-title">
      <div class="row">
        <span class="dot" aria-hidden="true" />
        <h2 id="connection-title">{TITLES[status]}</h2>
        {connected && health && (
          <span class="muted grow" data-testid="model">
            {health.model}
            {health.demo ? ' (demo)' : ''}
            {health.family ? ` · ${health.family}, ${health.nativeResolution} px native` : ''} · {health.provider} · v{health.version}
          </span>
        )}
        {connected && (
          <button type="button" class="link" aria-expanded={open} aria-controls="connection-details" onClick={() => setOpen(!open)}>
            {open ? 'Done' : 'Settings'}
          </button>
        )}
      </div>
      <p class="status-text" role="status" aria-live="polite">
        {status === 'not-running' ? `Nothing answers at ${url}.` : connection.message}
      </p>

      {status === 'not-running' && (
        <div class="hint">
          <p>Start the companion in the DyPE project folder, then leave it running:</p>
          <pre>
            <code>npm start</code>
          </pre>
          <p class="muted">It prints a pairing code. This panel reconnects on its own.</p>
        </div>
      )}
      {status === 'blocked' && (
        <div class="hint">
          <p>
            In Chrome, let figma.com reach this computer: click the site controls left of the address bar, turn on “Apps on device” (or “Local network”), then reload
            Figma.
          </p>
          <p class="muted">Or use the Figma desktop app, which needs no such permission. Also check that the companion runs (“npm start”).</p>
        </div>
      )}
      {status === 'incompatible' && <p class="muted">Update the plugin and the companion to the same release, or check the URL below.</p>}

      {needsPairing && (
        // no <form>: Figma's sandboxed iframe may not allow form submission
        <div class="row" role="group" aria-label="Pair with the companion">
          <label for="pair-code" class="label-inline">
            Pairing code
          </label>
          <input
            id="pair-code"
            class="grow mono"
            value={code}
            placeholder="ABCD-EFGH"
            autocomplete="off"
            spellcheck={false}
            aria-describedby="pair-help"
            aria-invalid={pairError !== null}
            onInput={(e) => setCode(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') void pair();
            }}
          />
          <button type="button" class="primary" disabled={pairing || code.trim() === ''} onClick={() => void pair()}>
            {pairing ? 'Pairing…' : 'Pair'}
          </button>
        </div>
      )}
      {needsPairing && (
        <p id="pair-help" class="muted">
          The code is in the companion’s terminal, on the line “pairing”.
        </p>
      )}
      {pairError && (
        <p class="error" role="alert">
          {pairError}
        </p>
      )}

      {showDetails && (
        <div id="connection-details" class="row" role="group" aria-label="Companion address">
          <label for="companion-url" class="label-inline">
            Companion URL
          </label>
          <input
            id="companion-url"
            class="grow mono"
            type="url"
            value={draftUrl}
            aria-invalid={!urlValid}
            aria-describedby={showUrlProblem ? 'companion-url-problem' : undefined}
            onInput={(e) => setDraftUrl(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') saveUrl();
            }}
          />
          <button type="button" disabled={!urlValid} onClick={saveUrl}>
            {draftChanged ? 'Connect' : 'Retry'}
          </button>
        </div>
      )}
      {showUrlProblem && (
        <p id="companion-url-problem" class="error">
          {urlProblem}
        </p>
      )}
      {connected && open && (
        <button type="button" class="link danger" onClick={() => onToken(null)}>
          Forget the token (unpair)
        </button>
      )}
    </section>
  );
}
