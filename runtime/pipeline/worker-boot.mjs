// Entry of the pipeline's worker thread: a worker does not share its parent's module loader, so it
// registers tsx itself (as bin/dype.js does) before loading the TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./worker-main.ts');
