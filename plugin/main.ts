/** The plugin's main thread: shows the UI and registers one handler per UI message and Figma event. */
import { createController } from './controller.ts';
import { listen, on } from './events.ts';

figma.showUI(__html__, { width: 380, height: 640, title: 'DyPE', themeColors: true });

const app = createController(figma.command);
on('ready', app.ready);
on('save-settings', app.saveSettings);
on('limits', app.setLimits);
on('generate', app.generate);
on('regenerate', app.regenerate);
on('job-preview', app.jobPreview);
on('job-result', app.jobResult);
on('job-ended', app.jobEnded);
on('reapply', app.reapply);
on('notify', app.notify);
listen();

figma.on('selectionchange', app.selectionChanged);
figma.on('currentpagechange', app.pageChanged);
figma.on('close', app.close);
app.watchCurrentPage();
