/** Small text helpers for the panels. */

export function size(width: number, height: number): string {
  return `${Math.round(width * 100) / 100} × ${Math.round(height * 100) / 100}`;
}

export function megapixels(width: number, height: number): string {
  const mp = (width * height) / 1e6;
  return `${mp < 0.1 ? mp.toFixed(2) : mp < 10 ? mp.toFixed(1) : Math.round(mp)} MP`;
}

export function eta(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '';
  const s = Math.round(ms / 1000);
  if (s < 1) return 'almost done';
  if (s < 60) return `about ${s} s left`;
  return `about ${Math.floor(s / 60)} min ${s % 60} s left`;
}

export function ordinal(n: number): string {
  const rem100 = n % 100;
  const suffix = rem100 >= 11 && rem100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

export function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function randomSeed(): number {
  const buffer = new Uint32Array(1);
  crypto.getRandomValues(buffer);
  return buffer[0];
}

/** Bytes in kB below 1 MB, then MB with one decimal below 10 MB, then GB with one decimal ("640 kB", "4.2 MB", "38 MB", "23.8 GB"). */
export function byteSize(bytes: number): string {
  if (bytes < 1e6) return `${Math.round(bytes / 1e3)} kB`;
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  const mb = bytes / 1e6;
  return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB`;
}
