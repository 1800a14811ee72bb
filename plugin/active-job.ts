import type { GenerationParams, JobRequest } from './messages.ts';

/** A job the main thread has handed to the UI and not yet seen finish. */
export interface ActiveJob {
  request: JobRequest;
  frame: FrameNode;
  frameName: string;
  params: GenerationParams;
  /** Frame size and page position when the job started. */
  frameWidth: number;
  frameHeight: number;
  x: number;
  y: number;
  /** The frame's fills when the job started; a preview replaces them until the job ends. */
  previousFills: ReadonlyArray<Paint>;
  previewing: boolean;
  /** The previous tile group, hidden while a preview shows. */
  hiddenGroup: SceneNode | null;
}
