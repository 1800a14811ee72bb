/**
 * Extend's keep rectangle and crop from Figma geometry, and the default action. Expected rectangles are
 * worked out by hand from the frame boxes (points) and the output size (pixels) in each case.
 */
import { describe, expect, it } from 'vitest';
import { defaultAction, extendPlan, oldFrameOffset, type Box } from '../../plugin/resize-plan.ts';

/** A 400×300 pt frame at (100, 50) whose 800×600 px image filled it (2 px per point). */
const BEFORE: Box = { x: 100, y: 50, width: 400, height: 300 };
const IMAGE = { width: 800, height: 600 };

/** BEFORE with one edge dragged outwards by `by` points. */
function dragged(edge: 'left' | 'right' | 'top' | 'bottom', by: number): Box {
  const b = { ...BEFORE };
  if (edge === 'left') Object.assign(b, { x: b.x - by, width: b.width + by });
  if (edge === 'right') b.width += by;
  if (edge === 'top') Object.assign(b, { y: b.y - by, height: b.height + by });
  if (edge === 'bottom') b.height += by;
  return b;
}

describe('the default action', () => {
  it('is Refine when the aspect held and Extend when it changed', () => {
    expect(defaultAction('size')).toBe('refine');
    expect(defaultAction('aspect')).toBe('extend');
  });
});

describe('Extend from each edge', () => {
  // 2 px per point in the output too: the old picture keeps its 800×600 px
  const cases = [
    { edge: 'right', output: { width: 1000, height: 600 }, keep: { x: 0, y: 0, width: 800, height: 600 } },
    { edge: 'left', output: { width: 1000, height: 600 }, keep: { x: 200, y: 0, width: 800, height: 600 } },
    { edge: 'bottom', output: { width: 800, height: 800 }, keep: { x: 0, y: 0, width: 800, height: 600 } },
    { edge: 'top', output: { width: 800, height: 800 }, keep: { x: 0, y: 200, width: 800, height: 600 } },
  ] as const;
  for (const { edge, output, keep } of cases) {
    it(`keeps the old picture at the right offset when the ${edge} edge moved out`, () => {
      const plan = extendPlan(BEFORE, dragged(edge, 100), IMAGE, output);
      expect(plan?.keep).toMatchObject(keep);
      // the whole old image is kept
      expect(plan?.crop).toEqual({ x: 0, y: 0, width: 800, height: 600 });
      // a blend band inside the kept rectangle: 2% of the longer output side
      expect(plan?.keep.feather).toBe(Math.round(0.02 * Math.max(output.width, output.height)));
    });
  }

  it('scales the keep rectangle to the output density', () => {
    // the right edge moved out by 100 pt; the new image has 3 px per point
    const plan = extendPlan(BEFORE, dragged('right', 100), IMAGE, { width: 1500, height: 900 });
    expect(plan?.keep).toMatchObject({ x: 0, y: 0, width: 1200, height: 900 });
  });

  it('keeps only what is left when an edge moved in', () => {
    // the left edge moved in by 100 pt and the bottom out by 100: the left quarter of the picture is gone
    const after = { x: 200, y: 50, width: 300, height: 400 };
    const plan = extendPlan(BEFORE, after, IMAGE, { width: 600, height: 800 });
    expect(plan).toEqual({ keep: { x: 0, y: 0, width: 600, height: 600, feather: 16 }, crop: { x: 200, y: 0, width: 600, height: 600 } });
  });

  it('centres the picture when both edges of an axis moved (resized from the centre, or moved too)', () => {
    expect(oldFrameOffset(BEFORE, { x: 50, y: 50, width: 500, height: 300 })).toEqual({ x: 50, y: 0 });
    expect(oldFrameOffset(BEFORE, { x: 700, y: 50, width: 600, height: 300 })).toEqual({ x: 100, y: 0 });
  });

  it('tolerates half a point of editor rounding on an edge that stayed', () => {
    expect(oldFrameOffset(BEFORE, { x: 100.4, y: 49.6, width: 500, height: 300 })).toEqual({ x: 0, y: 0 });
  });

  it('maps the crop through the FILL paint when the image did not have the frame’s aspect', () => {
    // a 1000×600 photo in the 400×300 frame: scaled by 0.5 to cover it, 50 pt cut off left and right
    const plan = extendPlan(BEFORE, dragged('bottom', 100), { width: 1000, height: 600 }, { width: 800, height: 800 });
    expect(plan?.crop).toEqual({ x: 100, y: 0, width: 800, height: 600 });
    expect(plan?.keep).toMatchObject({ x: 0, y: 0, width: 800, height: 600 });
  });
});
