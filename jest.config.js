// Two tiers, selected by file name: *.unit.test.ts needs no service, *.int.test.ts runs against the
// real stack that test/support/global-setup.ts starts once per run.
const tsJest = ['ts-jest', { useESM: true }];
const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
  // The stack's data (Postgres keeps *.snap files) and the build are not test material.
  modulePathIgnorePatterns: ['<rootDir>/.stack/', '<rootDir>/dist/'],
};

export default {
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.unit.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.mjs',
      globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
    },
  ],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.cjs'],
  // One test file at a time, on any machine: the fault drill (test/integration/drill.int.test.ts)
  // kills components of the shared stack, which another file running beside it would see.
  maxWorkers: 1,
  testTimeout: 120000,
};
