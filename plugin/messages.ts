/** The one file of message types shared by plugin/ (main thread) and ui/ (iframe). */
export interface SelectionInfo {
  frames: { id: string; name: string; width: number; height: number }[];
}

export type MainToUi = { type: 'selection'; selection: SelectionInfo };

export type UiToMain = { type: 'ready' } | { type: 'notify'; message: string };
