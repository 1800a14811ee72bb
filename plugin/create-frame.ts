/** A new frame on `page` at page coordinates (x, y). */
export function createFrame(page: PageNode, name: string, width: number, height: number, x: number, y: number): FrameNode {
  const frame = figma.createFrame();
  page.appendChild(frame);
  frame.name = name;
  frame.resize(width, height);
  frame.x = x;
  frame.y = y;
  return frame;
}
