import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { cacheDir, cassandraVersion, ensureCassandra, resolveJars } from '../launcher';

test('the jars are resolved once into the cache outside the repo', (t) => {
  const lib = resolveJars(() => undefined);
  t.is(lib, join(cacheDir(), 'lib'));
  t.true(existsSync(join(lib, '.complete')));
  t.true(existsSync(join(lib, `cassandra-all-${cassandraVersion}.jar`)));
  t.false(lib.startsWith(join(__dirname, '..', '..', '..')), 'the cache is not inside the repo');
});

test('CASSANDRA_HOST: an existing Cassandra is used, not started, and not stopped', async (t) => {
  // npm test sets CASSANDRA_HOST to the node it started (or the one it was given).
  t.truthy(process.env.CASSANDRA_HOST);
  const handle = await ensureCassandra({ log: () => undefined });
  t.false(handle.owned);
  t.regex(handle.releaseVersion, /^\d+\.\d+/);
  await handle.stop();
  const again = await ensureCassandra({ log: () => undefined });
  t.is(again.releaseVersion, handle.releaseVersion, 'stop() left it running');
});

test('the pom pins Cassandra 5.0', (t) => {
  t.regex(cassandraVersion, /^5\.0\.\d+$/);
  t.true(readFileSync(join(__dirname, '..', 'pom.xml'), 'utf8').includes('<artifactId>cassandra-all</artifactId>'));
});
