import { GENERATION_KEY } from './read-generation.ts';

/** Frames on `page` that carry a stored generation. */
export function findGeneratedFrames(page: PageNode): FrameNode[] {
  return page.findAllWithCriteria({ types: ['FRAME'], pluginData: { keys: [GENERATION_KEY] } });
}
