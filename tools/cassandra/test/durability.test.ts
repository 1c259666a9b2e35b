/**
 * The commit log sync, the durability of acknowledged writes: the deployment spec's default is one
 * that acknowledges a write only once it is on disk, and what the local launcher writes and what the
 * image's set-durability.sh makes of Cassandra 5.0's own cassandra.yaml are accepted by Cassandra
 * 5.0's configuration code (its checks run here from the server's jars, without starting a node).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { component } from '@product-store/deploy';
import { Client } from 'cassandra-driver';
import { durabilityFrom, nodeDurability } from '../durability';
import { javaBinary, renderConfig, repoRoot, resolveJars } from '../launcher';

const work = mkdtempSync(join(tmpdir(), 'product-store-durability-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));
const script = join(repoRoot, 'images', 'cassandra', 'set-durability.sh');
/** The stand-in image's copy of Cassandra 5.0's conf/cassandra.yaml (periodic, as shipped). */
const shippedYaml = join(repoRoot, 'tools', 'deploy', 'docker', 'standins', 'cassandra', 'conf', 'cassandra.yaml');

let classes: string | undefined;
/** What Cassandra 5.0's configuration code makes of a cassandra.yaml. */
function cassandraReads(file: string): string {
  const lib = resolveJars(() => undefined);
  if (!classes) {
    classes = join(work, 'classes');
    const javac = join(dirname(javaBinary()), 'javac');
    const built = spawnSync(javac, ['-cp', `${lib}/*`, '-d', classes, join(__dirname, 'fixtures', 'CheckYaml.java')], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`javac: ${built.stderr || built.error}`);
  }
  const storage = mkdtempSync(join(work, 'storage-'));
  const run = spawnSync(javaBinary(), ['-Xmx256m', '-Dlogback.configurationFile=logback-tools.xml', '-cp', `${classes}:${lib}/*`, 'CheckYaml', file, storage], { encoding: 'utf8', timeout: 60_000 });
  return run.stdout.split('\n').find((l) => /^(accepted|refused) /.test(l)) ?? `no answer: ${run.stderr}`;
}

function setDurability(file: string, env: Record<string, string>) {
  return spawnSync('sh', [script, file], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
}

test('the spec acknowledges a write only once it is on disk, by default: group with a small window', (t) => {
  const env = component('cassandra').env;
  t.deepEqual(env.CASSANDRA_COMMITLOG_SYNC, { config: 'CASSANDRA_COMMITLOG_SYNC', default: 'group' });
  t.deepEqual(env.CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW, { config: 'CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW', default: '10ms' });
  const durability = durabilityFrom({});
  t.deepEqual(durability.yaml, { commitlog_sync: 'group', commitlog_sync_group_window: '10ms' });
  // The image's defaults (a bare `docker run`) are the spec's.
  const text = readFileSync(script, 'utf8');
  t.true(text.includes('mode=${CASSANDRA_COMMITLOG_SYNC:-group}'));
  t.true(text.includes('window=${CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW:-10ms}'));
  t.true(text.includes(`period=\${CASSANDRA_COMMITLOG_SYNC_PERIOD:-${(env.CASSANDRA_COMMITLOG_SYNC_PERIOD as { default: string }).default}}`));
});

test('the spec carries the settings into compose and the cluster', (t) => {
  const compose = parse(readFileSync(join(repoRoot, 'compose', 'docker-compose.yml'), 'utf8'));
  t.is(compose.services.cassandra.environment.CASSANDRA_COMMITLOG_SYNC, '${CASSANDRA_COMMITLOG_SYNC:-group}');
  t.regex(readFileSync(join(repoRoot, 'k8s', '01-config.k8s.yaml'), 'utf8'), /^ {2}CASSANDRA_COMMITLOG_SYNC: group$/m);
  t.regex(readFileSync(join(repoRoot, 'k8s', '10-cassandra.k8s.yaml'), 'utf8'), /- name: CASSANDRA_COMMITLOG_SYNC\n/);
});

test("the launcher's cassandra.yaml, in each mode, is what Cassandra 5.0 accepts", (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /^accepted group .*group_window_ms=10$/],
    [{ CASSANDRA_COMMITLOG_SYNC: 'batch' }, /^accepted batch /],
    [{ CASSANDRA_COMMITLOG_SYNC: 'periodic' }, /^accepted periodic period_ms=10000/],
  ];
  for (const [env, expected] of cases) {
    const dir = mkdtempSync(join(work, 'launcher-'));
    const file = join(dir, 'cassandra.yaml');
    const yaml = renderConfig(dir, 19999, undefined, env);
    writeFileSync(file, yaml);
    t.regex(cassandraReads(file), expected, JSON.stringify(env));
    if (env.CASSANDRA_COMMITLOG_SYNC !== 'periodic') t.notRegex(yaml, /commitlog_sync_period/, 'Cassandra 5.0 refuses a period beside group or batch');
  }
  t.throws(() => durabilityFrom({ CASSANDRA_COMMITLOG_SYNC: 'sometimes' }), { message: /CASSANDRA_COMMITLOG_SYNC/ });
  t.throws(() => durabilityFrom({ CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW: '10' }), { message: /duration/ });
});

test("the image's set-durability.sh turns Cassandra 5.0's shipped cassandra.yaml into what it accepts, idempotently", (t) => {
  // The check is real: the shipped file with group and its period left in is refused.
  const mixed = join(work, 'mixed.yaml');
  writeFileSync(mixed, readFileSync(shippedYaml, 'utf8').replace(/^commitlog_sync: periodic$/m, 'commitlog_sync: group\ncommitlog_sync_group_window: 10ms'));
  t.regex(cassandraReads(mixed), /^refused .*commitlog_sync_period/);

  const file = join(work, 'shipped.yaml');
  copyFileSync(shippedYaml, file);
  const run = setDurability(file, {});
  t.is(run.status, 0, run.stderr);
  t.regex(run.stderr, /commit log sync group/);
  const once = readFileSync(file, 'utf8');
  t.is(setDurability(file, {}).status, 0);
  t.is(readFileSync(file, 'utf8'), once, 'a second run changes nothing');
  t.regex(cassandraReads(file), /^accepted group .*group_window_ms=10$/);

  t.is(setDurability(file, { CASSANDRA_COMMITLOG_SYNC: 'periodic', CASSANDRA_COMMITLOG_SYNC_PERIOD: '2s' }).status, 0);
  t.regex(cassandraReads(file), /^accepted periodic period_ms=2000/);
});

test('set-durability.sh refuses an unknown mode or a malformed window, and leaves the file alone', (t) => {
  const file = join(work, 'refused.yaml');
  copyFileSync(shippedYaml, file);
  const refused: Array<Record<string, string>> = [{ CASSANDRA_COMMITLOG_SYNC: 'fast' }, { CASSANDRA_COMMITLOG_SYNC: 'group', CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW: '10 ms' }];
  for (const env of refused) {
    const run = setDurability(file, env);
    t.is(run.status, 1);
    t.regex(run.stderr, /CASSANDRA_COMMITLOG_SYNC/);
  }
  t.is(readFileSync(file, 'utf8'), readFileSync(shippedYaml, 'utf8'));
});

test('a running node reports its commit log sync (what npm run bench prints)', async (t) => {
  const client = new Client({ contactPoints: [`${process.env.CASSANDRA_HOST || '127.0.0.1'}:${process.env.CASSANDRA_PORT || 9042}`], localDataCenter: 'datacenter1' });
  try {
    await client.connect();
    t.regex(await nodeDurability(client), /^(group \(.* grouped every \d+ms\)|batch \(|periodic \(.* every \d+m?s)/);
  } finally {
    await client.shutdown();
  }
});
