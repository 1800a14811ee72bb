/**
 * Where an image file's own bytes end, from its container structure: PNG at the IEND chunk, JPEG at
 * the EOI marker, WebP at the RIFF size. What follows is not the image (and is not stored); an end
 * that is never reached means the file is cut short. Pure: bytes in, a length out.
 */
import type { UploadFormat } from '../contract/index.ts';

export class ImageStructureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageStructureError';
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The length of the image at the start of `bytes`; throws ImageStructureError when it is cut short or malformed. */
export function imageByteLength(bytes: Uint8Array, format: UploadFormat): number {
  if (format === 'png') return pngLength(bytes);
  if (format === 'jpeg') return jpegLength(bytes);
  return webpLength(bytes);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Chunks (length, type, data, CRC) from the signature to IEND. */
function pngLength(bytes: Uint8Array): number {
  if (!PNG_SIGNATURE.every((b, i) => bytes[i] === b)) throw new ImageStructureError('it does not start with the PNG signature');
  const data = view(bytes);
  let at = PNG_SIGNATURE.length;
  while (at + 8 <= bytes.length) {
    const length = data.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const end = at + 12 + length;
    if (end > bytes.length) break;
    if (type === 'IEND') return end;
    at = end;
  }
  throw new ImageStructureError('the PNG is cut short: it has no IEND chunk');
}

/** Segments from SOI, through each scan's entropy-coded data (where 0xFF is stuffed as FF 00 or is a restart marker), to EOI. */
function jpegLength(bytes: Uint8Array): number {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new ImageStructureError('it does not start with the JPEG SOI marker');
  const data = view(bytes);
  let at = 2;
  while (at + 1 < bytes.length) {
    if (bytes[at] !== 0xff) throw new ImageStructureError(`the JPEG has no marker where one belongs (byte ${at})`);
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd9) return at + 2; // EOI
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // no length
      continue;
    }
    if (at + 4 > bytes.length) break;
    at += 2 + data.getUint16(at + 2);
    if (marker !== 0xda) continue;
    // SOS: entropy-coded data up to the next marker that is not a stuffed byte or a restart
    while (at + 1 < bytes.length && !(bytes[at] === 0xff && bytes[at + 1] !== 0 && !(bytes[at + 1] >= 0xd0 && bytes[at + 1] <= 0xd7))) at++;
  }
  throw new ImageStructureError('the JPEG is cut short: it has no EOI marker');
}

/** RIFF header: "RIFF", the size of what follows, "WEBP". */
function webpLength(bytes: Uint8Array): number {
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WEBP') throw new ImageStructureError('it does not start with a RIFF WEBP header');
  const size = view(bytes).getUint32(4, true);
  const end = 8 + size;
  if (end > bytes.length) throw new ImageStructureError(`the WebP is cut short: its header announces ${end} bytes, the file has ${bytes.length}`);
  return end;
}
