import type { MainToUi, SelectionInfo, UiToMain } from './messages.ts';

function readSelection(): SelectionInfo {
  const frames = figma.currentPage.selection
    .filter((node): node is FrameNode => node.type === 'FRAME')
    .map((f) => ({ id: f.id, name: f.name, width: f.width, height: f.height }));
  return { frames };
}

function post(message: MainToUi): void {
  figma.ui.postMessage(message);
}

figma.showUI(__html__, { width: 360, height: 520, themeColors: true });
figma.on('selectionchange', () => post({ type: 'selection', selection: readSelection() }));
figma.ui.onmessage = (message: UiToMain) => {
  if (message.type === 'ready') post({ type: 'selection', selection: readSelection() });
  else if (message.type === 'notify') figma.notify(message.message);
};
