// One configuration for every project's tests; `nx run <project>:test` narrows it to that project's folder.
export default {
  // tools/deploy/test runs under `npm run test:deploy` (tools/deploy/ava.config.mjs).
  // tools' tests run under their own configurations (tools/ava.config.mjs, tools/ava.drills.config.mjs).
  files: ['services/*/test/**/*.test.ts', 'tools/**/test/**/*.test.ts', '!tools/deploy/**', 'gateway/test/**/*.test.ts', 'deploy/test/**/*.test.ts', 'charts/test/**/*.test.ts', 'storefront/test/**/*.test.ts'],
  extensions: { ts: 'commonjs' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  concurrency: 2,
  timeout: '2m',
  environmentVariables: { ENVIRONMENT: 'test', LOG_LEVEL: 'warn' },
};
