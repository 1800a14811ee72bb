/**
 * What Figma does with a manifest's `networkAccess` when a plugin is imported: the rules it checks,
 * and the Content-Security-Policy it then gives the plugin's UI iframe. Written from the behaviour of
 * the networkAccess module in Figma's web bundle (the one whose error reads "If you want to allow
 * localhost, please add a "reasoning" field…"), as found in a public copy of that bundle:
 * - an entry is an optional ws/wss/http/https scheme with "//", a host (an optional "*." and labels of
 *   a–z, 0–9 and "-", ending in a TLD of two or more letters; or `localhost` with an optional port),
 *   then an optional path. An IP literal such as 127.0.0.1 has no letter TLD, so it is not a valid URL;
 * - the production pattern has no `localhost` and no port: an entry valid only under the development
 *   pattern (localhost, or a port) needs a `reasoning`, as does "*";
 * - the checks run in a fixed order and Figma reports the first that fails.
 * The CSP is built from the raw strings: an origin the UI fetches must be listed literally.
 */

export interface NetworkAccess {
  allowedDomains: readonly string[];
  devAllowedDomains?: readonly string[];
  reasoning?: string;
}

/** Figma's rules, in the order it checks them. */
export const NETWORK_ACCESS_RULES = [
  'wildcard-needs-reasoning',
  'localhost-needs-reasoning',
  'reasoning-under-1000',
  'not-empty',
  'none-alone',
  'valid-url',
  'no-duplicates',
  'has-scheme',
  'dev-valid-url',
] as const;
export type NetworkAccessRule = (typeof NETWORK_ACCESS_RULES)[number];

const SCHEME = '(?:(?:https?|wss?):\\/\\/)';
const DOMAIN = '(?:\\*\\.)?(?:[-a-z\\d]+\\.)+[a-z]{2,}';
const PATH = '(?:\\/[-a-zA-Z\\d%_.~+@]*)*';
/** What an allowedDomains entry may be in a published plugin without a reasoning. */
const PRODUCTION_ENTRY = new RegExp(`^${SCHEME}?${DOMAIN}${PATH}$`);
/** What any entry may be: also `localhost`, and a port. */
const ANY_ENTRY = new RegExp(`^${SCHEME}?(?:${DOMAIN}|localhost)(?::\\d+)?${PATH}$`);
const STARTS_WITH_SCHEME = new RegExp(`^${SCHEME}`);

const validEntry = (entry: string) => entry === '*' || ANY_ENTRY.test(entry);

/** The first of Figma's rules that `access` breaks, with the entry at fault; null when it passes. */
export function networkAccessProblem(access: NetworkAccess): { rule: NetworkAccessRule; entry?: string } | null {
  const { allowedDomains: domains, devAllowedDomains, reasoning } = access;
  const reasoned = reasoning !== undefined && reasoning !== '';
  if (domains.includes('*') && !reasoned) return { rule: 'wildcard-needs-reasoning' };
  const local = domains.find((entry) => entry !== '*' && validEntry(entry) && !PRODUCTION_ENTRY.test(entry));
  if (local !== undefined && !reasoned) return { rule: 'localhost-needs-reasoning', entry: local };
  if (reasoned && reasoning.length > 1000) return { rule: 'reasoning-under-1000' };
  if (domains.length === 0) return { rule: 'not-empty' };
  if (!(domains.length === 1 && domains[0] === 'none')) {
    if (domains.includes('none')) return { rule: 'none-alone' };
    const invalid = domains.find((entry) => !validEntry(entry));
    if (invalid !== undefined) return { rule: 'valid-url', entry: invalid };
    const twice = domains.find((entry, i) => domains.indexOf(entry) !== i);
    if (twice !== undefined) return { rule: 'no-duplicates', entry: twice };
  }
  const schemeless = domains.find((entry) => entry !== '*' && entry !== 'none' && !STARTS_WITH_SCHEME.test(entry));
  if (schemeless !== undefined) return { rule: 'has-scheme', entry: schemeless };
  const invalidDev = devAllowedDomains?.find((entry) => !validEntry(entry));
  if (invalidDev !== undefined) return { rule: 'dev-valid-url', entry: invalidDev };
  return null;
}

/**
 * The Content-Security-Policy Figma puts in the UI iframe for `allowedDomains` (null for "*": no
 * policy). `webfonts` stands for Figma's own font folder, which only font-src lists.
 */
export function figmaUiCsp(allowedDomains: readonly string[], webfonts = 'https://www.figma.com/webfont/'): string | null {
  if (allowedDomains.includes('*')) return null;
  const listed = allowedDomains.join(' ') === 'none' ? '' : ` ${allowedDomains.join(' ')}`;
  const inline = "'unsafe-inline' 'unsafe-eval' data: blob:";
  return `default-src data: blob:${listed}; script-src ${inline}${listed}; style-src ${inline}${listed}; font-src ${webfonts} data: blob:${listed};`;
}
