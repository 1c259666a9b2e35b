import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { repoRoot } from '../../cassandra/launcher';

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

test('GitHub Actions: tests gate the images, the images gate the deployment', (t) => {
  const workflow = parse(read('.github/workflows/deploy-production.yml'));
  t.deepEqual(Object.keys(workflow.jobs), ['test', 'images', 'deploy']);
  t.is(workflow.jobs.images.needs, 'test');
  t.is(workflow.jobs.deploy.needs, 'images');
  const steps = JSON.stringify(workflow.jobs);
  for (const command of ['npm test', 'scripts/install-prerequisites.sh', 'scripts/rolling-update.sh', 'scripts/cassandra-backup.sh', '/health']) {
    t.true(steps.includes(command), command);
  }
  const components = workflow.jobs.images.strategy.matrix.include.map((m: { component: string }) => m.component);
  t.deepEqual(components, ['backend', 'cart-service', 'order-service', 'user-service', 'cassandra']);
});

test('GitLab CI: test, build and a manual deployment of the same steps', (t) => {
  const pipeline = parse(read('.gitlab-ci.yml'));
  t.deepEqual(pipeline.stages, ['test', 'build', 'deploy']);
  t.is(pipeline.deploy_production.rules[0].when, 'manual');
  const text = JSON.stringify(pipeline);
  for (const command of ['npm test', 'scripts/rolling-update.sh', 'scripts/cassandra-backup.sh', 'images/cassandra']) t.true(text.includes(command), command);
});

test('the scripts and Dockerfiles the pipelines use exist', (t) => {
  for (const path of ['scripts/rolling-update.sh', 'scripts/cassandra-backup.sh', 'scripts/install-prerequisites.sh', 'Dockerfile', 'images/cassandra/Dockerfile']) {
    t.true(existsSync(join(repoRoot, path)), path);
  }
});
