/** The server's Engine contract is met by the real Pipeline (a compile-time check) and by the test fake. */
import { describe, expect, it } from 'vitest';
import type { Pipeline } from '../../runtime/pipeline/index.ts';
import type { Engine } from '../../runtime/server/engine.ts';
import { FakeEngine } from './helpers/fake-engine.ts';

// fails to type-check if Pipeline drifts from what the server needs
const asEngine = (pipeline: Pipeline): Engine => pipeline;

describe('Engine contract', () => {
  it('is implemented by the fake used in server tests', () => {
    const engine: Engine = new FakeEngine();
    expect(engine.info.methods.length).toBeGreaterThan(0);
    expect(typeof asEngine).toBe('function');
  });
});
