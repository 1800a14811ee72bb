/**
 * The main thread's state (settings, companion limits, running jobs, out-of-date frames) and one
 * handler per UI message and Figma event. Handlers never throw: failures become a notice.
 */
import { type Action, type Density, type Generation, type GenerationParams, type InitImage, type Limits, MAX_IMAGE_SIDE, type Placement, type ResultMeta, type SelectionState, type Settings, type UiToMainOf, type Upscale } from '../runtime/contract/index.ts';
import { emit } from './events.ts';
import { DEFAULT_LIMITS, frameJobBody, targetPixelSize } from './defaults.ts';
import { pictureSizeAsync, readPictureAsync } from './frame-image.ts';
import { findGeneratedFrames, frameInfo, outdatedReason, readGeneration } from './frame-record.ts';
import { defaultAction, extendPlan, type Box } from './resize-plan.ts';
import { absolutePosition, createFrame, insideInstance, isPictureNode, pageOf, plainError, type PictureNode, selectedFrames } from './nodes.ts';
import { type ActiveJob, resolvePlacement, restoreFrameAsync, showPreview } from './preview.ts';
import { loadSettingsAsync, saveSettingsAsync } from './settings.ts';
import { applyImage, createImages, type GenerationFields, tilesNeedAFrame } from './tiles.ts';

/** Size in points of the frame Generate creates when nothing is selected, before the companion says its model's native side. */
export const NEW_FRAME = { width: 1024, height: 1024 } as const;

/** The new frame: a square at the connected model's native side (1 pt = 1 px at 1×). */
function newFrameSize(limits: Limits): { width: number; height: number } {
  return limits.nativeSide ? { width: limits.nativeSide, height: limits.nativeSide } : NEW_FRAME;
}

function newFrameInfo(limits: Limits, density: Density) {
  const size = newFrameSize(limits);
  return { ...size, target: targetPixelSize(size.width, size.height, density, limits) };
}

export function createController(command: string | undefined) {
  /** The settings in effect; each save is chained after the previous one (they read, then write clientStorage). */
  let settings: Promise<Settings> = loadSettingsAsync();
  let limits: Limits = DEFAULT_LIMITS;
  let relaunch = command === 'regenerate';
  /** The UI registers its handlers before it sends "ready"; nothing is posted to it before. */
  let uiReady = false;
  const jobs = new Map<string, ActiveJob>();
  /** Out-of-date frames on the current page. */
  const outdated = new Map<string, PictureNode>();
  /** The page whose "nodechange" events are followed: the current page. */
  let watchedPage: PageNode | null = null;

  /** 'warning': something the user should read (a result went elsewhere); 'error': something failed. */
  function notify(message: string, kind: boolean | 'warning' = false): void {
    if (kind === 'warning') figma.notify(message, { timeout: 8000 });
    else figma.notify(message, kind ? { error: true, timeout: 8000 } : { timeout: 3000 });
  }

  /** Wraps a handler so that nothing it does can throw out of the plugin. */
  function safely<A extends unknown[]>(what: string, fn: (...args: A) => void | Promise<void>): (...args: A) => Promise<void> {
    return async (...args: A) => {
      try {
        await fn(...args);
      } catch (error) {
        notify(`${what}: ${plainError(error)}`, true);
      }
    };
  }

  async function postSelection(): Promise<void> {
    if (!uiReady) return;
    const { density } = await settings;
    const { frames, skipped } = selectedFrames();
    const nothing = figma.currentPage.selection.length === 0;
    const selection: SelectionState = {
      frames: await Promise.all(frames.map(async (frame) => frameInfo(frame, density, density, limits, await pictureSizeAsync(frame)))),
      newFrame: nothing ? newFrameInfo(limits, density) : null,
      skipped,
    };
    emit('selection', { selection });
  }

  async function postOutdated(): Promise<void> {
    if (!uiReady) return;
    const { density } = await settings;
    for (const [id, frame] of outdated) if (frame.removed) outdated.delete(id);
    const frames = [...outdated.values()];
    emit('outdated', { frames: await Promise.all(frames.map(async (frame) => frameInfo(frame, null, density, limits, await pictureSizeAsync(frame)))) });
  }

  /** Adds the frame to the out-of-date list or takes it off; true when it is or was on it. */
  function track(frame: PictureNode): boolean {
    const generation = readGeneration(frame);
    const reason = generation ? outdatedReason(frame.width, frame.height, generation) : null;
    const was = outdated.has(frame.id);
    if (reason) outdated.set(frame.id, frame);
    else outdated.delete(frame.id);
    return was || reason !== null;
  }

  /** The out-of-date list, rebuilt from the generated frames on the current page. */
  function rescanCurrentPage(): void {
    outdated.clear();
    for (const frame of findGeneratedFrames(figma.currentPage)) track(frame);
  }

  /** Follows width/height changes on the current page ("nodechange" needs no loadAllPagesAsync, unlike "documentchange"). */
  function watchCurrentPage(): void {
    watchedPage?.off('nodechange', nodesChanged);
    watchedPage = figma.currentPage;
    watchedPage.on('nodechange', nodesChanged);
  }

  const nodesChanged = safely('Could not follow the page', async (event: NodeChangeEvent) => {
    let changed = false;
    let selectionTouched = false;
    const selected = new Set(figma.currentPage.selection.map((n) => n.id));
    for (const change of event.nodeChanges) {
      if (change.type === 'DELETE') {
        changed = outdated.delete(change.id) || changed;
        continue;
      }
      if (change.type !== 'PROPERTY_CHANGE' || !change.properties.some((p) => p === 'width' || p === 'height')) continue;
      const node = change.node;
      if (node.removed || !isPictureNode(node)) continue;
      changed = track(node) || changed;
      selectionTouched = selectionTouched || selected.has(node.id);
    }
    if (changed) await postOutdated();
    if (selectionTouched) await postSelection();
  });

  function busy(frame: PictureNode): boolean {
    for (const job of jobs.values()) if (job.frame === frame) return true;
    return false;
  }

  /**
   * Starts a job for the frame, or says in words why not. Refine and Extend read the picture the frame
   * shows now; `upscale` (Refine from the selection) sizes the new image from that picture, else the
   * frame's size at the density does.
   */
  async function startJobAsync(frame: PictureNode, target: JobTarget): Promise<ActiveJob | string> {
    const { params } = target;
    if (busy(frame)) return `“${frame.name}” is already generating.`;
    const page = pageOf(frame);
    if (!page) return `“${frame.name}” is not on a page.`;
    const picture = target.action === 'reimagine' ? null : await readPictureAsync(frame);
    if (target.action !== 'reimagine' && !picture && !target.proposed) return `“${frame.name}” shows no image to ${target.action}; choose Re-imagine to draw one.`;
    // a proposed Refine or Extend on a frame whose picture is gone draws a new one
    const action = picture ? target.action : 'reimagine';
    const upscale = action === 'refine' ? target.upscale : null;
    const size =
      picture && upscale !== null
        ? targetPixelSize(picture.image.width, picture.image.height, { kind: 'scale', scale: upscale }, limits)
        : targetPixelSize(frame.width, frame.height, params.density, limits);
    const tiled = size.width > MAX_IMAGE_SIDE || size.height > MAX_IMAGE_SIDE;
    if (tiled && frame.type !== 'FRAME') return tilesNeedAFrame(frame.name, size);
    if (tiled && insideInstance(frame)) return instanceRefusal(frame.name, size);
    let init: InitImage | undefined;
    if (picture) {
      const plan = action === 'extend' ? extendPlan(framedBefore(frame), frameBox(frame), picture.image, size) : null;
      if (action === 'extend' && !plan) return `Nothing of the picture in “${frame.name}” is left to keep; choose Re-imagine.`;
      init = { image: picture.image, crop: plan?.crop ?? null, keep: plan?.keep ?? null, strength: target.strength };
    }
    // a busy check passed before the awaits above; another start may have claimed the frame meanwhile
    if (busy(frame)) return `“${frame.name}” is already generating.`;
    const jobId = newJobId();
    const body = frameJobBody(jobId, params, size);
    const at = absolutePosition(frame);
    const job: ActiveJob = {
      request: { jobId, nodeId: frame.id, frameName: frame.name, body, ...(init ? { init } : {}) },
      frame,
      frameName: frame.name,
      // an upscaled picture's density is its own, not the panel's: the record says what Regenerate keeps
      params: upscale === null ? params : { ...params, density: densityOf(size, frame) },
      page,
      frameWidth: frame.width,
      frameHeight: frame.height,
      x: at.x,
      y: at.y,
      beforePreview: null,
      previewHash: null,
      hiddenGroup: null,
      replaces: picture ? picture.replaces : (readGeneration(frame)?.imageHash ?? null),
    };
    jobs.set(jobId, job);
    return job;
  }

  async function startJobsAsync(targets: { frame: PictureNode; target: JobTarget }[], skipped: string[]): Promise<void> {
    const started: ActiveJob[] = [];
    for (const { frame, target } of targets) {
      let job: ActiveJob | string;
      try {
        job = await startJobAsync(frame, target);
      } catch (error) {
        job = `Could not read the picture in “${frame.name}”: ${plainError(error)}`;
      }
      if (typeof job === 'string') skipped.push(job);
      else started.push(job);
    }
    if (started.length > 0) {
      emit('start-jobs', { jobs: started.map((job) => job.request) });
      // the UI has its copy of each picture (tens of MB when tiled); this side needs it no more
      for (const job of started) job.request = { ...job.request, init: undefined };
      notify(started.length === 1 ? `Generating “${started[0].frameName}”…` : `Generating ${started.length} images…`);
    }
    if (skipped.length > 0) notify(skipped.join(' '), started.length === 0);
  }

  /** The job could not be placed: the UI and the user hear why. */
  function jobFailed(job: ActiveJob, error: unknown): void {
    const message = plainError(error);
    emit('job-failed', { jobId: job.request.jobId, message });
    notify(`Could not place the image in “${job.frameName}”: ${message}`, true);
  }

  function placementNotice(placement: Placement, job: ActiveJob, frame: PictureNode, fields: { width: number; height: number }): string {
    const page = pageOf(frame);
    const where = page && page.id !== figma.currentPage.id ? ` on the page “${page.name}”` : '';
    if (placement === 'new-frame') return `“${job.frameName}” was deleted while generating, so the image went into a new frame${where}.`;
    if (placement === 'beside') return `“${job.frameName}” changed size while generating, so the image went into “${frame.name}” beside it${where}.`;
    return `“${frame.name}” now shows its ${fields.width}×${fields.height} px image.`;
  }

  return {
    ready: safely('Could not start', async () => {
      uiReady = true;
      const current = await settings;
      emit('settings', { settings: current });
      await postSelection();
      rescanCurrentPage();
      await postOutdated();
      if (relaunch) {
        relaunch = false;
        emit('relaunch', { command: 'regenerate', nodeIds: selectedFrames().frames.map((f) => f.id) });
      }
    }),

    saveSettings: safely('Could not save the settings', async ({ patch }: UiToMainOf<'save-settings'>) => {
      const previous = settings;
      // after the save before it: two saves at once would both read the old settings and one patch would be lost
      const next = previous.then(() => saveSettingsAsync(patch));
      // a failed save keeps the settings in effect and is reported by safely()
      settings = next.catch(() => previous);
      await next;
      if (patch.density) await postSelection();
    }),

    setLimits: safely('Could not use the companion limits', async (message: UiToMainOf<'limits'>) => {
      limits = message.limits ?? DEFAULT_LIMITS;
      await postSelection();
      await postOutdated();
    }),

    generate: safely('Could not start generating', async ({ params, action, upscale, strength }: UiToMainOf<'generate'>) => {
      if (params.prompt.trim() === '') {
        notify('Type a prompt first.', true);
        return;
      }
      const { frames } = selectedFrames();
      if (frames.length === 0) {
        if (figma.currentPage.selection.length > 0) {
          notify('Select one or more frames: there is no frame in the selection.', true);
          return;
        }
        const center = figma.viewport.center;
        const size = newFrameSize(limits);
        const frame = createFrame(figma.currentPage, 'DyPE image', size.width, size.height, Math.round(center.x - size.width / 2), Math.round(center.y - size.height / 2));
        figma.currentPage.selection = [frame];
        // a new frame has no picture to refine or extend
        await startJobsAsync([{ frame, target: { params, action: 'reimagine', proposed: false, upscale, strength } }], []);
        return;
      }
      await startJobsAsync(frames.map((frame) => ({ frame, target: { params, action, proposed: false, upscale, strength } })), []);
    }),

    regenerate: safely('Could not regenerate', async ({ nodeIds, action, strength }: UiToMainOf<'regenerate'>) => {
      const targets: { frame: PictureNode; target: JobTarget }[] = [];
      const skipped: string[] = [];
      for (const id of nodeIds) {
        const node = await figma.getNodeByIdAsync(id);
        if (!node || node.removed || !isPictureNode(node)) {
          skipped.push('A frame to regenerate no longer exists.');
          continue;
        }
        const generation = readGeneration(node);
        if (!generation) {
          skipped.push(`“${node.name}” has no DyPE image to regenerate.`);
          continue;
        }
        // each frame's proposal unless one action was chosen: Refine when its aspect held, Extend when not
        const reason = outdatedReason(node.width, node.height, generation);
        const chosen = action ?? (reason ? defaultAction(reason) : 'reimagine');
        targets.push({ frame: node, target: { params: paramsOf(generation), action: chosen, proposed: action === null, upscale: null, strength } });
      }
      await startJobsAsync(targets, skipped);
    }),

    jobPreview: safely('Could not show the preview', ({ jobId, png }: UiToMainOf<'job-preview'>) => {
      const job = jobs.get(jobId);
      if (job) showPreview(job, png);
    }),

    jobResult: safely('Could not place the image', async ({ jobId, meta, image }: UiToMainOf<'job-result'>) => {
      const job = jobs.get(jobId);
      if (!job) return;
      jobs.delete(jobId);
      let hashes: string[];
      try {
        hashes = createImages(image);
      } catch (error) {
        await restoreFrameAsync(job);
        jobFailed(job, error);
        return;
      }
      // a new frame may go on the job's page; under "dynamic-page" a page takes children once loaded
      if (!job.page.removed) await job.page.loadAsync();
      // the preview is undone first, so that the one undo step below goes from the old image to the new
      await restoreFrameAsync(job);
      figma.commitUndo();
      let placed: { frame: PictureNode; placement: Placement } | null = null;
      try {
        placed = resolvePlacement(job);
        // a result in a frame made for it replaces nothing there
        applyImage(placed.frame, image, hashes, fieldsOf(meta, job.params.density), placed.placement === 'frame' ? job.replaces : undefined);
      } catch (error) {
        // applyImage put the frame back as it was; a frame made for the image goes again
        if (placed && placed.placement !== 'frame' && !placed.frame.removed) placed.frame.remove();
        figma.commitUndo();
        jobFailed(job, error);
        return;
      }
      figma.commitUndo();
      const { frame, placement } = placed;
      if (placement !== 'frame' && pageOf(frame)?.id === figma.currentPage.id) figma.currentPage.selection = [frame];
      emit('job-applied', { jobId, placement, frameName: frame.name });
      notify(placementNotice(placement, job, frame, image), placement === 'frame' ? false : 'warning');
      track(frame);
      if (!job.frame.removed) track(job.frame);
      await postOutdated();
      await postSelection();
    }),

    jobEnded: safely('Could not restore the frame', async ({ jobId, outcome, message }: UiToMainOf<'job-ended'>) => {
      const job = jobs.get(jobId);
      if (!job) return;
      jobs.delete(jobId);
      await restoreFrameAsync(job);
      if (outcome === 'cancelled') notify(`Cancelled “${job.frameName}”; its previous image is back.`);
      else notify(`“${job.frameName}” was not generated: ${message}`, true);
    }),

    reapply: safely('Could not apply the image', async ({ meta, image }: UiToMainOf<'reapply'>) => {
      const tiled = image.tiles.length > 1;
      const skipped: string[] = [];
      const frames = selectedFrames().frames.filter((frame) => {
        if (busy(frame)) skipped.push(`“${frame.name}” is still generating.`);
        else if (tiled && frame.type !== 'FRAME') skipped.push(tilesNeedAFrame(frame.name, image));
        else if (tiled && insideInstance(frame)) skipped.push(instanceRefusal(frame.name, image));
        else return true;
        return false;
      });
      if (frames.length === 0) {
        notify(skipped.length > 0 ? skipped.join(' ') : 'Select a frame to apply the image to.', true);
        return;
      }
      const hashes = createImages(image);
      figma.commitUndo();
      const applied: PictureNode[] = [];
      for (const frame of frames) {
        try {
          applyImage(frame, image, hashes, fieldsOf(meta, { kind: 'longest', px: Math.max(image.width, image.height) }));
          applied.push(frame);
        } catch (error) {
          skipped.push(`“${frame.name}”: ${plainError(error)}`);
        }
      }
      figma.commitUndo();
      if (applied.length > 0) notify(applied.length === 1 ? `Applied the image to “${applied[0].name}”.` : `Applied the image to ${applied.length} frames.`);
      if (skipped.length > 0) notify(`Not applied: ${skipped.join(' ')}`, true);
      applied.forEach(track);
      await postOutdated();
      await postSelection();
    }),

    notify: ({ message, error }: UiToMainOf<'notify'>) => notify(message, error),

    selectionChanged: safely('Could not read the selection', async () => {
      await postSelection();
      if (selectedFrames().frames.map(track).some(Boolean)) await postOutdated();
    }),

    /** Starts following the current page for resized frames. */
    watchCurrentPage,

    /** The user went to another page: follow that one, and list its out-of-date frames. */
    pageChanged: safely('Could not follow the page', async () => {
      watchCurrentPage();
      rescanCurrentPage();
      await postOutdated();
      await postSelection();
    }),

    /** The plugin is closing: frames showing a preview get their previous fills back. */
    close: () => {
      for (const job of jobs.values()) void restoreFrameAsync(job);
      jobs.clear();
    },
  };
}

/** What to make for one frame: its parameters and action; `upscale` (Refine) null: the frame's size at the density. */
interface JobTarget {
  params: GenerationParams;
  action: Action;
  /** The action is the plugin's proposal, not the user's choice: without a picture, Re-imagine instead. */
  proposed: boolean;
  upscale: Upscale | null;
  strength: number | null;
}

/** Pixels per point of a `size` image covering the frame (as FILL does), or its longest side when that is above 16×. */
function densityOf(size: { width: number; height: number }, frame: PictureNode): Density {
  const scale = Math.max(size.width / frame.width, size.height / frame.height);
  return scale <= 16 ? { kind: 'scale', scale: Math.round(scale * 1000) / 1000 } : { kind: 'longest', px: Math.max(size.width, size.height) };
}

/** The frame's box in its parent, in points. */
function frameBox(frame: PictureNode): Box {
  return { x: frame.x, y: frame.y, width: frame.width, height: frame.height };
}

/**
 * The box the frame had when its picture was made (its generation record), or its box now when it has
 * none. A record from before positions were stored is taken as resized from its centre.
 */
function framedBefore(frame: PictureNode): Box {
  const g = readGeneration(frame);
  if (!g) return frameBox(frame);
  return {
    x: g.frameX ?? frame.x + (frame.width - g.frameWidth) / 2,
    y: g.frameY ?? frame.y + (frame.height - g.frameHeight) / 2,
    width: g.frameWidth,
    height: g.frameHeight,
  };
}

/** Why a tiled image cannot go into a frame inside a component instance. */
function instanceRefusal(name: string, size: { width: number; height: number }): string {
  return `“${name}” is inside a component instance, where Figma allows no new layers, so its ${size.width}×${size.height} px image cannot be placed as tiles. Choose a size of at most ${MAX_IMAGE_SIDE} px per side, or detach the instance.`;
}

function paramsOf(g: Generation): GenerationParams {
  return { prompt: g.prompt, method: g.method, steps: g.steps, guidance: g.guidance, dypeScale: g.dypeScale, dypeExponent: g.dypeExponent, seed: g.seed, format: g.format, density: g.density };
}

function fieldsOf(meta: ResultMeta, density: Density): GenerationFields {
  return {
    prompt: meta.prompt,
    method: meta.method,
    steps: meta.steps,
    guidance: meta.guidance,
    dypeScale: meta.dypeScale,
    dypeExponent: meta.dypeExponent,
    seed: meta.seed,
    format: meta.format,
    density,
    jobId: meta.jobId,
    model: meta.model,
  };
}

/** A client-chosen job id the companion accepts: lowercase base-36, as the contract's JOB_ID_PATTERN requires. */
function newJobId(): string {
  const random = Math.floor(Math.random() * 36 ** 8).toString(36).padStart(8, '0');
  return `fig-${Date.now().toString(36)}-${random}`;
}
