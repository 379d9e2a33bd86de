// `npm run mutate:core`: src/core alone, against the tests of the core (unit, contract and
// the hostile path variants), in that order of speed. The in-process gateway files of
// stryker.config.mjs also reach src/core, but every one of them builds a whole gateway:
// run per mutant, they made a run of src/core take hours. A mutant only they would kill
// counts here as surviving, so this score is a floor.
import base from './stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  mutate: ['src/core/**/*.ts'],
  tap: {
    ...base.tap,
    // SLUICE_MUTATE_TESTS narrows it further, as in stryker.config.mjs.
    testFiles: process.env.SLUICE_MUTATE_TESTS?.split(',') ?? [
      'test/unit/**/*.test.ts',
      'test/contract/**/*.test.ts',
      'test/hostile/path-variants.test.ts',
    ],
  },
};
