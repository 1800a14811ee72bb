/**
 * The wire contract, once: zod schemas for everything that crosses a process boundary (the job body,
 * job view and events, health and errors over HTTP; the plugin ↔ UI messages over postMessage).
 * Types are inferred from them, the OpenAPI document is generated from them, and every edge (server,
 * UI client, plugin messages, CLI) validates with them. Node-free: the plugin and the UI bundle it.
 */
export * from './rules.ts';
export * from './jobs.ts';
export * from './uploads.ts';
export * from './health.ts';
export * from './errors.ts';
export * from './messages.ts';
export * from './models.ts';
