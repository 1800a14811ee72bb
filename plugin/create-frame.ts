/** A new frame on the current page at page coordinates (x, y). */
export function createFrame(name: string, width: number, height: number, x: number, y: number): FrameNode {
  const frame = figma.createFrame();
  frame.name = name;
  frame.resize(width, height);
  frame.x = x;
  frame.y = y;
  return frame;
}
