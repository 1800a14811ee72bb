import type { GenerationParams, JobRequest } from '../contract/index.ts';

/** A job the main thread has handed to the UI and not yet seen finish. */
export interface ActiveJob {
  request: JobRequest;
  frame: FrameNode;
  frameName: string;
  params: GenerationParams;
  /** The frame's page, size and page position when the job started. */
  page: PageNode;
  frameWidth: number;
  frameHeight: number;
  x: number;
  y: number;
  /** The frame's fills and fill style when the first preview replaced them; null while no preview shows. */
  beforePreview: { fills: ReadonlyArray<Paint>; fillStyleId: string } | null;
  /** The image the preview fill shows now. */
  previewHash: string | null;
  /** The previous tile group, hidden while a preview shows. */
  hiddenGroup: SceneNode | null;
}
