/**
 * The split between the deployment spec and the kit (deploy/README.md): the spec is plain data that
 * loads nothing of the services' runtime, and the kit, bundled into every service image, carries no
 * deployment fact. Each is loaded in a fresh process, where the module cache holds only what it pulled in.
 */
import { execFileSync } from 'node:child_process';
import { join, relative } from 'node:path';
import test from 'ava';
import * as deploy from '@product-store/deploy';
import * as kit from '@product-store/kit';

const repoRoot = join(__dirname, '..', '..');

/** The files a module loads (its own included), relative to the repository, tsx's own left out. */
function loadedBy(specifier: string): string[] {
  const script = `require(${JSON.stringify(specifier)}); process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
  const files: string[] = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: repoRoot, encoding: 'utf8' }));
  // The loader's own files (tsx and the esbuild it runs), wherever node_modules is (a worktree may link it).
  const loader = /(^|\/)node_modules\/(tsx\/|esbuild\/lib\/main\.js$)/;
  return files.map((f) => relative(repoRoot, f)).filter((f) => !loader.test(f)).sort();
}

test('the spec loads its own files, the kit\'s topology, the settings\' declarations and the version, nothing of the services\' runtime', (t) => {
  const files = loadedBy('@product-store/deploy');
  t.deepEqual(
    files.filter((f) => !f.startsWith('deploy/src/')),
    [
      'package.json',
      'services/backend/src/settings.ts',
      'services/kit/src/settings.ts',
      'services/kit/src/topology.ts',
      'services/order-service/src/settings.ts',
      'services/user-service/src/settings.ts',
    ],
  );
  t.true(files.includes('deploy/src/components.ts'));
});

test("the kit's topology loads nothing else: no package.json, no deployment file", (t) => {
  t.deepEqual(loadedBy('@product-store/kit/topology'), ['services/kit/src/topology.ts']);
});

test('the deployment facts are the spec\'s alone: the kit exports none of them', (t) => {
  const deploymentOnly = ['images', 'imageOf', 'infrastructure', 'gatewayRoutes', 'gatewayRewrites', 'gatewayLimits', 'serviceReplicas', 'replicasOf', 'replicaByName', 'localInternalPort', 'components', 'component'];
  for (const name of deploymentOnly) {
    t.true(name in deploy, `deploy exports ${name}`);
    t.false(name in kit, `the kit exports ${name}`);
  }
});

test('the runtime facts the spec re-exports are the kit\'s own objects, not copies', (t) => {
  t.is(deploy.services, kit.services);
  t.is(deploy.gatewayUpstream, kit.gatewayUpstream);
  t.is(deploy.internalEndpoints, kit.internalEndpoints);
});
