import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { images, imageOf, services } from '@product-store/deploy';
import { synthesize } from '../../../charts/main';
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
  t.deepEqual(components, ['backend', 'cart-service', 'order-service', 'user-service', 'cassandra', 'storefront']);
});

test('GitLab CI: test, build and a manual deployment of the same steps', (t) => {
  const pipeline = parse(read('.gitlab-ci.yml'));
  t.deepEqual(pipeline.stages, ['test', 'build', 'deploy']);
  t.is(pipeline.deploy_production.rules[0].when, 'manual');
  const text = JSON.stringify(pipeline);
  for (const command of ['npm test', 'scripts/rolling-update.sh', 'scripts/cassandra-backup.sh', 'images/cassandra', 'images/storefront/Dockerfile']) t.true(text.includes(command), command);
});

test('the scripts and Dockerfiles the pipelines use exist', (t) => {
  for (const path of ['scripts/rolling-update.sh', 'scripts/cassandra-backup.sh', 'scripts/install-prerequisites.sh', 'Dockerfile', 'images/cassandra/Dockerfile', 'images/storefront/Dockerfile']) {
    t.true(existsSync(join(repoRoot, path)), path);
  }
});

test('one image naming scheme: the pipelines push <IMAGE_REGISTRY>/<component>:<tag> for the components compose and k8s/ run, and a release tag pushes the version they name', (t) => {
  const own = [...services.map((s) => s.name), 'cassandra', 'storefront'];
  const k8sImages = new Set(
    readdirSync(join(repoRoot, 'k8s'))
      .flatMap((f) => [...read(`k8s/${f}`).matchAll(/image: (\S+)/g)].map((m) => m[1]))
      .filter((i) => i.startsWith(`${images.registry}/`)),
  );
  t.deepEqual([...k8sImages].sort(), own.map((c) => imageOf(c as never)).sort(), 'k8s/ names the release images');
  const compose = read('compose/docker-compose.yml');
  for (const c of own) t.true(compose.includes(`image: \${IMAGE_REGISTRY:-${images.registry}}/${c}:\${IMAGE_TAG:-${images.tag}}`), `compose: ${c}`);

  const github = read('.github/workflows/deploy-production.yml');
  const workflow = parse(github);
  t.is(workflow.env.IMAGE_REGISTRY, "${{ vars.IMAGE_REGISTRY || format('ghcr.io/{0}', github.repository_owner) }}");
  t.is(images.registry, 'ghcr.io/product-store', "the project's own repository (owner product-store) pushes where compose and k8s/ look");
  t.deepEqual(workflow.on.push.tags, ['v*']);
  t.regex(github, /tags="\$IMAGE_REGISTRY\/\$\{\{ matrix.component \}\}:\$IMAGE_TAG"/);
  t.regex(github, /tags="\$tags,\$IMAGE_REGISTRY\/\$\{\{ matrix.component \}\}:\$version"/);
  t.regex(github, /require\("\.\/package\.json"\)\.version/, 'a release tag must be the version k8s/ names');

  const gitlab = read('.gitlab-ci.yml');
  const pipeline = parse(gitlab);
  const built = [...(pipeline.build_images.parallel.matrix[0].COMPONENT as string[]), 'cassandra', 'storefront'];
  t.deepEqual(built.sort(), own.sort());
  for (const job of ['build_images', 'build_cassandra_image', 'build_storefront_image']) {
    const script = (pipeline[job].script as string[]).join('\n');
    t.regex(script, /docker push "\$IMAGE_REGISTRY\/\$COMPONENT:\$IMAGE_TAG"/, job);
    t.regex(script, /docker push "\$IMAGE_REGISTRY\/\$COMPONENT:\$version"/, `${job}: the release tag`);
  }
});

test('npm run synth renders k8s/ for the images a pipeline pushed: <registry>/<component>:<tag>, nothing else changed', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synth-'));
  try {
    synthesize(dir, { registry: 'registry.example.com/shop', tag: '3f2c1ab' });
    for (const file of readdirSync(join(repoRoot, 'k8s'))) {
      const released = read(`k8s/${file}`);
      const renamed = readFileSync(join(dir, file), 'utf8');
      const expected = [...services.map((s) => s.name), 'cassandra', 'storefront'].reduce((text, c) => text.split(imageOf(c as never)).join(`registry.example.com/shop/${c}:3f2c1ab`), released);
      t.is(renamed, expected, file);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the images run a Node.js LTS line that is still supported, and esbuild targets it', (t) => {
  // End of life of the even (LTS) lines, from the Node.js release schedule.
  const endOfLife: Record<number, string> = { 18: '2025-04-30', 20: '2026-04-30', 22: '2027-04-30', 24: '2028-04-30', 26: '2029-04-30' };
  const dockerfile = read('Dockerfile');
  const major = Number(/^ARG NODE_IMAGE=node:(\d+)-bookworm-slim$/m.exec(dockerfile)?.[1]);
  t.truthy(endOfLife[major], `node:${major} is an LTS line`);
  t.true(new Date(endOfLife[major]) > new Date(), `Node ${major} reached its end of life on ${endOfLife[major]}`);
  const targets = [...dockerfile.matchAll(/--target=node(\d+)/g)].map((m) => Number(m[1]));
  t.true(targets.length > 0 && targets.every((n) => n === major), `esbuild targets ${targets.join(', ')}`);
});
