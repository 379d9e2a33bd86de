export { AccountQueues, type Acquired, SlowedCounter } from './account-queue.ts';
export { accountRate, gcraParamsFor } from './budget.ts';
export { EPSILON_MS, type GcraState, type GcraStep, gcraStep, gcraUpdate } from './gcra.ts';
export { HeldSlots, type Release } from './held-slots.ts';
export {
  EMPTY_WINDOW,
  type MutableWindowState,
  NEVER_WARNED,
  type WindowState,
  type WindowStep,
  windowStep,
  windowUpdate,
} from './sliding-window.ts';
