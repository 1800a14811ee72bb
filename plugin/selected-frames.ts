/** The selected frames, and how many selected nodes are something else. */
export function selectedFrames(): { frames: FrameNode[]; skipped: number } {
  const selection = figma.currentPage.selection;
  const frames = selection.filter((node): node is FrameNode => node.type === 'FRAME');
  return { frames, skipped: selection.length - frames.length };
}
