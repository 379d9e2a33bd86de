/** The bundled demo upstream (see demo-upstream.ts) and its deterministic data. */

export type {
  CollectionName,
  Company,
  DemoData,
  DemoDataOptions,
  DemoItem,
  Device,
  Job,
  LogEntry,
} from './demo-data.ts';
export { COLLECTIONS, DEMO_DATA_END, generateDemoData } from './demo-data.ts';
export type { DemoUpstream, DemoUpstreamOptions } from './demo-upstream.ts';
export { startDemoUpstream } from './demo-upstream.ts';
export { deterministicSha256 } from './deterministic-bytes.ts';
