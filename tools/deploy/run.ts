/**
 * `npm run test:deploy`: the two deployments run for real, the way operators run them.
 *
 *  1. Prepares what needs the network, outside any namespace, cached under the cache root and keyed
 *     on its inputs: the Kubernetes control plane built from Go modules (tools/deploy/kube/build.ts),
 *     the base file systems, Node, npm packages, Cassandra's jars and the stand-ins' programs for the
 *     images (tools/deploy/docker/images.ts).
 *  2. Runs tools/deploy/test/*.test.ts with ava, one file at a time: each starts what it tests (a
 *     Docker engine, a kube-apiserver) inside a network namespace of its own and removes it after.
 *  3. Ends with one `N passed, N failed` line, like `npm test`.
 *
 * Needs root (network namespaces, a Docker engine) and the packages of
 * scripts/install-prerequisites.sh --deploy.
 */
import { repoRoot } from '../cassandra/launcher';
import { closingLines, runEchoed, tally } from '../test/tally';
import { ensureKubeBinaries } from './kube/build';
import { prepareImageInputs } from './docker/images';

const log = (line: string) => process.stdout.write(`deploy: ${line}\n`);

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  log(`${what}...`);
  const result = await work();
  log(`${what}: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return result;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('npm run test:deploy needs root: it creates network namespaces and runs a Docker engine');
  const started = Date.now();
  // Both are cached; cold, they are Go builds and downloads, which overlap well.
  await Promise.all([timed('Kubernetes control plane binaries', () => ensureKubeBinaries(log)), timed('image inputs', () => prepareImageInputs())]);
  const { code, output } = await runEchoed('npx', ['ava', '--config', 'tools/deploy/ava.config.mjs', ...process.argv.slice(2)], {
    cwd: repoRoot,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const result = tally(output);
  const { passed, failed } = result;
  // A failure that ava did not count (a typecheck error, a crash, no test at all) still counts as one.
  const uncounted = (code !== 0 || passed === 0) && failed === 0 ? 1 : 0;
  process.stdout.write(`\ndeploy tests took ${((Date.now() - started) / 60_000).toFixed(1)} min\n`);
  process.stdout.write(closingLines(result, uncounted));
  return code === 0 && passed > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  },
);
