/**
 * images/cassandra: its Dockerfile agrees with the spec and the local stack, and its scripts do what
 * they say. The scripts run here for real with sh, against stand-ins for what only the image has
 * (cqlsh, nodetool, the official docker-entrypoint.sh): a fake cqlsh keeps the superuser's password in
 * a file and applies ALTER ROLE, as Cassandra would.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { parse } from 'yaml';
import { component } from '@product-store/deploy';

const repoRoot = resolve(__dirname, '..', '..', '..');
const imageDir = join(repoRoot, 'images', 'cassandra');
const scripts = ['entrypoint.sh', 'enable-auth.sh', 'set-password.sh', 'healthcheck.sh', 'set-durability.sh'];
const dockerfile = readFileSync(join(imageDir, 'Dockerfile'), 'utf8');
const cassandra = component('cassandra');

/** A scratch folder removed after the test. */
function scratch(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cassandra-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function executable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

function sh(script: string, args: string[], env: NodeJS.ProcessEnv, timeout = 60_000): SpawnSyncReturns<string> {
  return spawnSync('sh', [join(imageDir, script), ...args], { encoding: 'utf8', env, timeout });
}

test('the scripts are POSIX sh (sh -n), and shellcheck finds nothing where it is installed', (t) => {
  for (const script of scripts) {
    const result = spawnSync('sh', ['-n', join(imageDir, script)], { encoding: 'utf8' });
    t.is(result.status, 0, `${script}: ${result.stderr}`);
    t.true(readFileSync(join(imageDir, script), 'utf8').startsWith('#!/bin/sh\n'), script);
  }
  const shellcheck = spawnSync('shellcheck', ['-s', 'sh', ...scripts.map((s) => join(imageDir, s))], { encoding: 'utf8' });
  if ((shellcheck.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    t.log('shellcheck is not installed: only sh -n ran');
    return;
  }
  t.is(shellcheck.status, 0, shellcheck.stdout);
});

test('the Dockerfile: the Cassandra and JMX exporter versions of the local stack, the spec user, metrics port and rules path', (t) => {
  const pom = readFileSync(join(repoRoot, 'tools', 'cassandra', 'pom.xml'), 'utf8');
  const pomVersion = (name: string) => new RegExp(`<${name}>([^<]+)<`).exec(pom)![1];
  const arg = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(dockerfile)?.[1];
  t.is(arg('CASSANDRA_VERSION'), pomVersion('cassandra\\.version'));
  t.regex(dockerfile, /^ARG CASSANDRA_BASE_IMAGE=cassandra:\$\{CASSANDRA_VERSION\}$/m, 'the official image, unless a build argument names another');
  t.regex(dockerfile, /^FROM \$\{CASSANDRA_BASE_IMAGE\}$/m);
  t.is(arg('JMX_EXPORTER_VERSION'), pomVersion('jmx\\.exporter\\.version'));
  t.regex(arg('JMX_EXPORTER_SHA256') ?? '', /^[0-9a-f]{64}$/);
  // The build needs no network: the jar comes from the context (fetch-jmx-exporter.sh), checksum checked.
  t.false(/^ADD https?:/m.test(dockerfile), 'no ADD from a URL');
  t.true(dockerfile.includes('COPY jmx_prometheus_javaagent-${JMX_EXPORTER_VERSION}.jar /opt/jmx-exporter/'));
  t.true(dockerfile.includes('sha256sum -c'));
  t.true(dockerfile.includes(`JMX_EXPORTER_PORT=${cassandra.ports.find((p) => p.name === 'metrics')!.port}`));
  t.true(dockerfile.includes(`JMX_EXPORTER_CONFIG=${cassandra.configFiles[0].mountPath}`));
  t.true(dockerfile.includes('ENV JVM_EXTRA_OPTS="-javaagent:/opt/jmx-exporter/jmx_prometheus_javaagent-${JMX_EXPORTER_VERSION}.jar=${JMX_EXPORTER_PORT}:${JMX_EXPORTER_CONFIG}"'));
  t.true(dockerfile.includes(`\nUSER ${cassandra.user}:${cassandra.user}\n`));
  t.true(dockerfile.includes('ENTRYPOINT ["/usr/local/bin/product-store-entrypoint"]'));
  t.true(dockerfile.includes('CMD ["cassandra", "-f"]'), 'CMD again: a new ENTRYPOINT clears the base image CMD');
  for (const [file, installed] of [
    ['entrypoint.sh', 'product-store-entrypoint'],
    ['enable-auth.sh', 'cassandra-enable-auth'],
    ['set-password.sh', 'cassandra-set-password'],
    ['healthcheck.sh', 'cassandra-healthcheck'],
    ['set-durability.sh', 'cassandra-set-durability'],
  ]) {
    t.true(dockerfile.includes(`COPY ${file} /usr/local/bin/${installed}\n`), file);
    t.true(existsSync(join(imageDir, file)), file);
  }
  // The names the entrypoint calls its helpers by.
  const entrypoint = readFileSync(join(imageDir, 'entrypoint.sh'), 'utf8');
  t.true(entrypoint.includes('cassandra-enable-auth "') && entrypoint.includes('cassandra-set-password &'));
});

const block50 = `cluster_name: 'Test Cluster'
num_tokens: 16
# - PasswordAuthenticator relies on username/password pairs to authenticate
authenticator:
  class_name : org.apache.cassandra.auth.AllowAllAuthenticator
# MutualTlsAuthenticator can be configured using the following configuration.
#  class_name: org.apache.cassandra.auth.MutualTlsAuthenticator
#  parameters:
#    validator_class_name: org.apache.cassandra.auth.SpiffeCertificateValidator

authorizer:
  class_name: AllowAllAuthorizer

role_manager:
  class_name: CassandraRoleManager
  parameters:
    # invalid_role_disconnect_task_period: 4h

roles_validity: 2000ms
`;
const oneLine = `cluster_name: 'Test Cluster'
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
`;

for (const [form, text] of [
  ['the 5.0 block form', block50],
  ['the one-line form', oneLine],
  ['a file without the settings', "cluster_name: 'Test Cluster'\n"],
] as const) {
  test(`enable-auth.sh turns on PasswordAuthenticator and CassandraAuthorizer in ${form}, idempotently`, (t) => {
    const file = join(scratch(t), 'cassandra.yaml');
    writeFileSync(file, text);
    const first = sh('enable-auth.sh', [file], process.env);
    t.is(first.status, 0, first.stderr);
    const once = readFileSync(file, 'utf8');
    const config = parse(once) as Record<string, unknown>;
    t.is(config.authenticator, 'PasswordAuthenticator');
    t.is(config.authorizer, 'CassandraAuthorizer');
    const before = parse(text) as Record<string, unknown>;
    for (const key of Object.keys(before).filter((k) => k !== 'authenticator' && k !== 'authorizer')) t.deepEqual(config[key], before[key], key);
    t.is(sh('enable-auth.sh', [file], process.env).status, 0);
    t.is(readFileSync(file, 'utf8'), once, 'a second run changes nothing');
  });
}

/**
 * A stand-in for cqlsh: `--credentials=FILE` (PlainTextAuthProvider's username and password), `-f FILE`.
 * The superuser's password lives in $FAKE_CQL_STATE; while $FAKE_CQL_DOWN counts down, CQL is not up.
 * Every command line is appended to $FAKE_CQL_CALLS.
 */
const fakeCqlsh = `#!/usr/bin/env node
const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_CQL_CALLS, args.join(' ') + '\\n');
const down = process.env.FAKE_CQL_DOWN;
if (down && Number(fs.readFileSync(down, 'utf8')) > 0) {
  fs.writeFileSync(down, String(Number(fs.readFileSync(down, 'utf8')) - 1));
  console.error('Connection error: connection refused');
  process.exit(1);
}
const option = (name) => args.find((a) => a.startsWith(name + '='))?.slice(name.length + 1);
const credentials = fs.readFileSync(option('--credentials'), 'utf8');
const field = (name) => credentials.split('\\n').find((l) => l.startsWith(name + ' = '))?.slice(name.length + 3);
if (!credentials.startsWith('[PlainTextAuthProvider]\\n')) process.exit(3);
if ((fs.statSync(option('--credentials')).mode & 0o077) !== 0) process.exit(4);
const state = process.env.FAKE_CQL_STATE;
if (field('username') !== 'cassandra' || field('password') !== fs.readFileSync(state, 'utf8')) {
  console.error('AuthenticationFailed');
  process.exit(1);
}
const file = args[args.indexOf('-f') + 1];
const statement = fs.readFileSync(file, 'utf8');
const alter = /^ALTER ROLE cassandra WITH PASSWORD = '((?:[^']|'')*)';\\n$/.exec(statement);
if (alter) fs.writeFileSync(state, alter[1].replace(/''/g, "'"));
else if (statement !== 'SELECT release_version FROM system.local;\\n') process.exit(5);
`;

interface FakeCassandra {
  dir: string;
  env: NodeJS.ProcessEnv;
  password(): string;
  calls(): string;
}

function fakeCassandra(t: ExecutionContext, options: { password: string; current?: string; downRounds?: number }): FakeCassandra {
  const dir = scratch(t);
  executable(join(dir, 'cqlsh'), fakeCqlsh);
  writeFileSync(join(dir, 'state'), options.current ?? 'cassandra');
  writeFileSync(join(dir, 'down'), String(options.downRounds ?? 0));
  writeFileSync(join(dir, 'calls'), '');
  return {
    dir,
    env: {
      PATH: `${dir}:${process.env.PATH}`,
      CASSANDRA_PASSWORD: options.password,
      CASSANDRA_PASSWORD_READY_FILE: join(dir, 'ready'),
      FAKE_CQL_STATE: join(dir, 'state'),
      FAKE_CQL_DOWN: join(dir, 'down'),
      FAKE_CQL_CALLS: join(dir, 'calls'),
    },
    password: () => readFileSync(join(dir, 'state'), 'utf8'),
    calls: () => readFileSync(join(dir, 'calls'), 'utf8'),
  };
}

const trickyPassword = `it's a "tricky" $pass\\word; -- with 'quotes'`;

test('set-password.sh waits for CQL, changes the default password once, marks it ready, and never shows it', (t) => {
  const cql = fakeCassandra(t, { password: trickyPassword, downRounds: 2 });
  const result = sh('set-password.sh', [], cql.env);
  t.is(result.status, 0, result.stderr);
  t.is(cql.password(), trickyPassword, 'the role has the password, quotes and all');
  t.true(existsSync(join(cql.dir, 'ready')));
  t.regex(result.stderr, /waiting for CQL/);
  t.regex(result.stderr, /changed the password of the default superuser cassandra/);
  for (const text of [result.stdout, result.stderr, cql.calls()]) {
    t.false(text.includes('tricky'), 'the password is in no output and on no command line');
  }
  t.false(readFileSync(join(cql.dir, 'calls'), 'utf8').includes(' -e '), 'statements come from files');
});

test('set-password.sh with the password already set: ready at once, nothing altered', (t) => {
  const cql = fakeCassandra(t, { password: 's3cret-password', current: 's3cret-password' });
  const result = sh('set-password.sh', [], cql.env);
  t.is(result.status, 0, result.stderr);
  t.true(existsSync(join(cql.dir, 'ready')));
  t.is(cql.calls().trim().split('\n').length, 1, 'one login, no ALTER ROLE');
});

test('set-password.sh when the role has another password: gives up after the timeout, says how to fix it, not ready', (t) => {
  const cql = fakeCassandra(t, { password: 'the-new-one-123', current: 'an-older-one-456' });
  const result = sh('set-password.sh', [], { ...cql.env, CASSANDRA_PASSWORD_TIMEOUT: '0' });
  t.is(result.status, 1);
  t.regex(result.stderr, /ALTER ROLE cassandra WITH PASSWORD/);
  t.false(existsSync(join(cql.dir, 'ready')));
  t.is(cql.password(), 'an-older-one-456');
  t.false(result.stderr.includes('the-new-one-123') || result.stderr.includes('an-older-one-456'));
});

test('healthcheck.sh: healthy when nodetool shows UN and, with a password, once the password is ready', (t) => {
  const dir = scratch(t);
  executable(join(dir, 'nodetool'), '#!/bin/sh\n[ "$1" = status ] && [ "$MAX_HEAP_SIZE" = 128M ] && cat "$NODETOOL_OUTPUT"\n');
  const up = 'Datacenter: datacenter1\n=======================\nStatus=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n--  Address     Load       Tokens  Owns (effective)  Host ID  Rack\nUN  172.18.0.5  104.3 KiB  16      100.0%            9d1c...  rack1\n';
  const joining = up.replace('UN  ', 'UJ  ');
  writeFileSync(join(dir, 'up'), up);
  writeFileSync(join(dir, 'joining'), joining);
  const ready = join(dir, 'ready');
  const check = (output: string, password?: string) =>
    sh('healthcheck.sh', [], {
      PATH: `${dir}:${process.env.PATH}`,
      NODETOOL_OUTPUT: join(dir, output),
      CASSANDRA_PASSWORD_READY_FILE: ready,
      MAX_HEAP_SIZE: '1G',
      ...(password ? { CASSANDRA_PASSWORD: password } : {}),
    }).status;
  t.is(check('up'), 0, 'no authentication: UN is enough');
  t.is(check('joining'), 1);
  t.is(check('up', 'pw-1234567890'), 1, 'password not ready yet');
  writeFileSync(ready, '');
  t.is(check('up', 'pw-1234567890'), 0);
  t.is(check('joining', 'pw-1234567890'), 1);
});

/** The entrypoint with stand-ins for the official entrypoint and its two helpers, which log how they were called. */
function entrypointRun(t: ExecutionContext, env: NodeJS.ProcessEnv, args: string[] = []) {
  const dir = scratch(t);
  const log = join(dir, 'log');
  writeFileSync(log, '');
  executable(join(dir, 'docker-entrypoint.sh'), `#!/bin/sh\necho "docker-entrypoint.sh $*" >>"${log}"\n`);
  executable(join(dir, 'cassandra-enable-auth'), `#!/bin/sh\necho "cassandra-enable-auth $*" >>"${log}"\n`);
  executable(join(dir, 'cassandra-set-password'), `#!/bin/sh\necho "cassandra-set-password" >>"${log}"\n`);
  executable(join(dir, 'cassandra-set-durability'), `#!/bin/sh\necho "cassandra-set-durability $*" >>"${log}"\n`);
  const rules = join(dir, 'jmx-exporter.yaml');
  writeFileSync(rules, 'rules: []\n');
  const ready = join(dir, 'ready');
  writeFileSync(ready, 'left from an earlier start');
  const result = sh('entrypoint.sh', args, {
    PATH: `${dir}:${process.env.PATH}`,
    CASSANDRA_CONF: join(dir, 'conf'),
    CASSANDRA_PASSWORD_READY_FILE: ready,
    JMX_EXPORTER_CONFIG: rules,
    JVM_EXTRA_OPTS: `-javaagent:/opt/jmx-exporter/agent.jar=7070:${rules}`,
    ...env,
  });
  // spawnSync returns once every holder of the output pipes is gone, the background job included.
  return { result, log: readFileSync(log, 'utf8'), readyLeft: existsSync(ready), dir };
}

test('entrypoint.sh with a password: auth on in CASSANDRA_CONF, password job started, then the official entrypoint', (t) => {
  const run = entrypointRun(t, { CASSANDRA_PASSWORD: 'a-real-password-42' }, ['cassandra', '-f']);
  t.is(run.result.status, 0, run.result.stderr);
  t.true(run.log.includes(`cassandra-enable-auth ${join(run.dir, 'conf', 'cassandra.yaml')}\n`));
  t.true(run.log.includes('cassandra-set-password\n'));
  // The password job runs in the background: its line may fall anywhere, so order is checked, not adjacency.
  const durability = run.log.indexOf(`cassandra-set-durability ${join(run.dir, 'conf', 'cassandra.yaml')}\n`);
  t.true(durability >= 0 && durability < run.log.indexOf('docker-entrypoint.sh cassandra -f\n'), 'the commit log sync is set before the server starts');
  t.false(run.readyLeft, 'the ready file of an earlier start is removed');
  t.false(run.result.stderr.includes('a-real-password-42'));
});

test('entrypoint.sh without a password: authentication stays off', (t) => {
  const run = entrypointRun(t, {});
  t.is(run.result.status, 0, run.result.stderr);
  t.is(run.log, `cassandra-set-durability ${join(run.dir, 'conf', 'cassandra.yaml')}\ndocker-entrypoint.sh \n`);
  t.regex(run.result.stderr, /authentication stays off/);
});

test('entrypoint.sh refuses the .env.example placeholder and the default password', (t) => {
  for (const password of ['change-me', 'cassandra']) {
    const run = entrypointRun(t, { CASSANDRA_PASSWORD: password });
    t.is(run.result.status, 1, password);
    t.is(run.log, '', 'Cassandra does not start');
  }
});

test("entrypoint.sh stops with a clear message when the JMX exporter's rules are not mounted", (t) => {
  const run = entrypointRun(t, { JMX_EXPORTER_CONFIG: '/nonexistent/jmx-exporter.yaml', JVM_EXTRA_OPTS: '-javaagent:/a.jar=7070:/nonexistent/jmx-exporter.yaml' });
  t.is(run.result.status, 1);
  t.regex(run.result.stderr, /mount monitoring\/cassandra\/jmx-exporter\.yaml at \/nonexistent\/jmx-exporter\.yaml/);
  t.is(run.log, '');
});

test('entrypoint.sh passes other commands (cqlsh, nodetool, bash) straight to the official entrypoint', (t) => {
  const run = entrypointRun(t, { CASSANDRA_PASSWORD: 'a-real-password-42' }, ['cqlsh', '-e', 'DESCRIBE KEYSPACES']);
  t.is(run.result.status, 0, run.result.stderr);
  t.is(run.log, 'docker-entrypoint.sh cqlsh -e DESCRIBE KEYSPACES\n');
  t.true(run.readyLeft, 'a side command leaves the running node alone');
});
