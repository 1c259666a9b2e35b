/**
 * Where a service listens: loopback unless HOST says otherwise, so a development machine does not
 * serve its published development secrets to its network; the deployments set HOST=0.0.0.0, where
 * nginx and the other services reach a container over its network.
 */
import { createConnection } from 'node:net';
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parse, parseAllDocuments } from 'yaml';
import { components } from '@product-store/deploy';
import { loadConfig } from '../src';
import { dropKeyspace, startTestService, testEnv } from '../testing';
import { backend } from '../../backend/src/service';

const repoRoot = join(__dirname, '..', '..', '..');

/** Whether a TCP connection to host:port is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(2000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

test('without HOST a service listens on loopback only', async (t) => {
  t.is(loadConfig('backend', {}).host, '127.0.0.1');
  t.is(loadConfig('backend', { HOST: '0.0.0.0' }).host, '0.0.0.0');

  const env = testEnv({ HOST: undefined });
  const service = await startTestService(backend, env);
  try {
    const port = Number(new URL(service.url).port);
    t.true(await connects('127.0.0.1', port));
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
    if (!external) {
      t.log('this machine has no non-loopback IPv4 address: only loopback was tried');
      return;
    }
    t.false(await connects(external.address, port), `not reachable on ${external.address}`);
  } finally {
    await service.stop();
    await dropKeyspace(env.CASSANDRA_KEYSPACE!);
  }
});

test('the images, compose and the cluster listen on every interface of the container', (t) => {
  for (const c of components.filter((c) => c.role === 'service')) t.deepEqual(c.env.HOST, { value: '0.0.0.0' }, c.name);
  t.regex(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'), /^\s+HOST=0\.0\.0\.0 \\$/m, 'the service image');
  const compose = parse(readFileSync(join(repoRoot, 'compose', 'docker-compose.yml'), 'utf8')).services as Record<string, { environment?: Record<string, unknown>; image?: string }>;
  const serviceReplicas = Object.entries(compose).filter(([, s]) => s.environment && 'OTEL_SERVICE_NAME' in s.environment);
  t.true(serviceReplicas.length >= 4);
  for (const [name, s] of serviceReplicas) t.is(s.environment!.HOST, '0.0.0.0', name);
  for (const file of ['20-backend', '21-cart-service', '22-order-service', '23-user-service']) {
    const docs = parseAllDocuments(readFileSync(join(repoRoot, 'k8s', `${file}.k8s.yaml`), 'utf8')).map((d) => d.toJS());
    const deployment = docs.find((d) => d?.kind === 'Deployment');
    const env = deployment.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    t.is(env.find((e) => e.name === 'HOST')?.value, '0.0.0.0', file);
  }
});
