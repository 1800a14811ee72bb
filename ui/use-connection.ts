import { useEffect, useMemo, useState } from 'preact/hooks';
import { companionUrlProblem, createCompanionClient, probeCompanion, type CompanionClient, type Connection } from './companion-client.ts';

/** Re-check this often while the companion is missing or unpaired, and while it is connected. */
const RETRY_MS = 3000;
const CONNECTED_MS = 15000;

/**
 * The companion client for the current URL and token, and the connection's state, checked now and
 * then again on a timer (so starting the companion is noticed without a click). `recheck` checks now.
 * A URL Figma would not let the plugin reach gets no client: status 'not-allowed', with the reason.
 */
export function useConnection(url: string | null, token: string | null, testOrigins: readonly string[]): { client: CompanionClient | null; connection: Connection; recheck: () => void } {
  const problem = url === null ? null : companionUrlProblem(url, testOrigins);
  const client = useMemo(() => (url && problem === null ? createCompanionClient(url, token) : null), [url, token, problem]);
  const [connection, setConnection] = useState<Connection>({ status: 'checking', health: null, message: 'Looking for the companion…' });
  const [tick, setTick] = useState(0);

  useEffect(() => {
    if (!client) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const check = async () => {
      const next = await probeCompanion(client);
      if (stopped) return;
      setConnection((prev) => (same(prev, next) ? prev : next));
      timer = setTimeout(check, next.status === 'connected' ? CONNECTED_MS : RETRY_MS);
    };
    setConnection((prev) => ({ ...prev, status: 'checking', message: `Looking for the companion at ${client.baseUrl}…` }));
    void check();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client, tick]);

  const shown: Connection = problem !== null ? { status: 'not-allowed', health: null, message: problem } : connection;
  return { client, connection: shown, recheck: () => setTick((t) => t + 1) };
}

function same(a: Connection, b: Connection): boolean {
  return a.status === b.status && a.message === b.message && JSON.stringify(a.health) === JSON.stringify(b.health);
}
