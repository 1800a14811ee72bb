/** Reading one byte range of a file (a tensor inside a checkpoint) without reading the rest. */
import { closeSync, openSync, readSync } from 'node:fs';

/** `length` bytes of `file` from `offset`; a file that ends first is an error naming `what`. */
export function readRange(file: string, offset: number, length: number, what: string): Uint8Array {
  const out = new Uint8Array(length);
  const fd = openSync(file, 'r');
  try {
    for (let at = 0; at < length; ) {
      const n = readSync(fd, out, at, length - at, offset + at);
      if (n === 0) throw new Error(`${file} ended at byte ${offset + at} while reading ${what}: the file changed after its header was read`);
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
