// `npm run test:deploy`: the deployments run for real (a Docker engine, a Kubernetes API server), one
// test file at a time, with the timeouts of builds and container starts. tools/deploy/run.ts runs it.
export default {
  files: ['tools/deploy/test/**/*.test.ts'],
  extensions: { ts: 'commonjs' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  concurrency: 1,
  serial: true,
  timeout: '20m',
  // No ENVIRONMENT or LOG_LEVEL here: docker-compose would take them from the environment over the
  // deployment's env file (the stack must run as production, with its own log level).
};
