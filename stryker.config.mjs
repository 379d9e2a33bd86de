// Mutation testing of src/core and src/gateway with StrykerJS: `npm run mutate` (slow, not
// in CI, not in `npm test`). TESTING.md has the score and the surviving mutants.

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  mutate: ['src/core/**/*.ts', 'src/gateway/**/*.ts'],
  // The tap runner reports coverage per test file, so each mutant runs only the files
  // that reach it.
  coverageAnalysis: 'perTest',
  // The machine's cores are shared: one test process at a time.
  concurrency: 1,
  // Added to the timeout Stryker derives from the dry run; a mutant that hangs past it
  // counts as detected.
  timeoutMS: 5_000,
  tap: {
    // The fast files that run the code in their own process, where Stryker sees what
    // they cover: unit, contract, in-process integration and the hostile path variants
    // and framing.
    // Tests that spawn the CLI would reach mutants only in a child process Stryker
    // cannot see, so they are left to `npm test`.
    // SLUICE_MUTATE_TESTS (comma-separated globs) narrows a run to the test files that
    // reach the files mutated: every in-process file builds a whole gateway, and run per
    // mutant they make a run of src/gateway take hours. A mutant only the files left out
    // would kill then counts as surviving: a narrowed score is a floor.
    testFiles: process.env.SLUICE_MUTATE_TESTS?.split(',') ?? [
      'test/unit/**/*.test.ts',
      'test/contract/**/*.test.ts',
      'test/integration/inprocess-*.test.ts',
      'test/integration/long-delays.test.ts',
      'test/integration/webhook-notifier.test.ts',
      'test/hostile/path-variants.test.ts',
      // The other files that build the gateway in-process (shadow-mode's last test runs
      // the CLI, which Stryker does not see; the rest of the file it does).
      'test/integration/forwarding.test.ts',
      'test/integration/gateway-credentials.test.ts',
      'test/integration/gateway-delegated-identity.test.ts',
      'test/integration/response-headers.test.ts',
      'test/integration/shadow-mode.test.ts',
      'test/integration/usage-endpoint.test.ts',
      'test/integration/event-loop-delay.test.ts',
      'test/hostile/smuggling-oversize.test.ts',
    ],
    // Node 24 strips the types itself; the instrumented files stay erasable TypeScript.
    // A test a mutant makes hang fails after 15 s: Stryker's own timeout adds the whole
    // dry run's start-up overhead (half a minute and more) to every mutant's bound.
    nodeArgs: [
      '--test-reporter=tap',
      '--test-timeout=15000',
      '-r',
      '{{hookFile}}',
      '{{testFile}}',
    ],
  },
  // tsconfig.json stays out of the sandbox: Stryker would rewrite it with the
  // TypeScript JS API, which TypeScript 7 (the native compiler) no longer has, and
  // Node does not read it.
  ignorePatterns: ['bench', 'data', '.sluice', 'reports', '*.cpuprofile', 'tsconfig.json'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 85, break: null },
};
