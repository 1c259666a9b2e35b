/**
 * k8s/ is what the charts synthesize now: same files, same bytes. When this fails, run
 * `node --import tsx charts/main.ts` and commit k8s/.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { outdir, synthesize } from '../main';
import { manifestFiles } from './manifests';

test('k8s/ holds exactly what the charts synthesize', (t) => {
  const fresh = mkdtempSync(join(tmpdir(), 'product-store-k8s-'));
  try {
    synthesize(fresh);
    const expected = manifestFiles(fresh);
    t.deepEqual(manifestFiles(outdir), expected, 'missing or extra files in k8s/: run node --import tsx charts/main.ts');
    for (const file of expected) {
      t.is(readFileSync(join(outdir, file), 'utf8'), readFileSync(join(fresh, file), 'utf8'), `k8s/${file} is stale: run node --import tsx charts/main.ts`);
    }
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});

test('the files apply in order: the namespace first, then the configuration', (t) => {
  const files = manifestFiles(outdir);
  t.is(files[0], '00-namespace.k8s.yaml');
  t.is(files[1], '01-config.k8s.yaml');
});
