/**
 * The checks in front of every route. The companion only ever talks to this machine:
 * - Host must name the loopback address and our port, so a DNS-rebound page cannot reach us;
 * - Origin must be absent (CLI tools) or "null" (the Figma plugin's sandboxed iframe);
 * - the token must match, compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The addresses the companion listens on, and only these: `localhost` resolves to either one first
 * (IPv4 or IPv6, depending on the system), and the plugin may reach the companion only as `localhost`.
 */
export const LOOPBACK_ADDRESSES = ['127.0.0.1', '::1'] as const;

/** The Host header values accepted for a server on `port`: the loopback addresses and `localhost`. */
export function allowedHostHeaders(port: number): Set<string> {
  return new Set([`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]);
}

export function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  return header !== undefined && allowed.has(header.toLowerCase());
}

/** `undefined` (no Origin) and "null" pass, as do any extra origins configured for development. */
export function originAllowed(origin: string | undefined, extra: ReadonlySet<string>): boolean {
  return origin === undefined || origin === 'null' || extra.has(origin);
}

/** Constant-time string comparison (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The token from `Authorization: Bearer <token>`, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}
