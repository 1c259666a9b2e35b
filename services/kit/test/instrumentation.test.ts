import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';

const probe = (env: Record<string, string | undefined>) =>
  spawnSync(process.execPath, ['--require', 'tsx/cjs', '--require', join(__dirname, '..', 'src', 'instrumentation.ts'), '-e', 'process.stdout.write(typeof globalThis.__productStoreTracing)'], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });

test('without an OTLP endpoint, tracing stays off: no SDK is started', (t) => {
  const run = probe({});
  t.is(run.status, 0, run.stderr);
  t.is(run.stdout, 'undefined');
});

test('with an endpoint the SDK starts; OTEL_SDK_DISABLED turns it off again', (t) => {
  const on = probe({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_SERVICE_NAME: 'backend' });
  t.is(on.status, 0, on.stderr);
  t.is(on.stdout, 'function');
  t.is(probe({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_SDK_DISABLED: 'true' }).stdout, 'undefined');
});
