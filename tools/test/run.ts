/**
 * `npm test`: starts the project's Cassandra (or uses CASSANDRA_HOST), runs every project's typecheck
 * and test targets through Nx, stops what it started, and ends with one `N passed, N failed` line.
 */
import { ensureCassandra, repoRoot } from '../cassandra/launcher';
import { onStopSignals } from '../stack/signals';
import { cassandraOrigin, closingLines, runEchoed, tally } from './tally';

async function main(): Promise<number> {
  // Until the end: a Ctrl-C ends the tests (runEchoed stops them), then Cassandra is stopped; the
  // repeated signals of a terminal must not kill this runner before that (tools/stack/signals.ts).
  let interrupted = false;
  const say = (line: string) => process.stderr.write(`[test] ${line}\n`);
  onStopSignals(
    () => {
      interrupted = true;
      say('interrupted: stopping the tests, then Cassandra');
    },
    { say, leftBehind: () => "the tests' Cassandra (the next run adopts it)" },
  );
  // CASSANDRA_NODES=3 runs the suite on a three-node cluster (127.0.0.1-3), keyspaces at replication factor 3.
  // The tests' node acknowledges writes before fsync (Cassandra's `periodic`): a killed process loses
  // nothing either way (the commit log is in the page cache), and on a loaded machine the fsync of
  // every write (`group`, the deployments' default, exercised by npm run test:deploy) only adds latency.
  process.env.CASSANDRA_COMMITLOG_SYNC ||= 'periodic';
  const cassandra = await ensureCassandra();
  if (interrupted) {
    await cassandra.stop();
    return 130;
  }
  const args = ['nx', 'run-many', '-t', 'typecheck', 'test', '--outputStyle=stream', '--parallel=1', ...process.argv.slice(2)];
  const { code, output } = await runEchoed('npx', args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      CASSANDRA_HOST: cassandra.contactPoints,
      CASSANDRA_PORT: String(cassandra.port),
      ...(cassandra.contactPoints.includes(',') && !process.env.CASSANDRA_REPLICATION_FACTOR ? { CASSANDRA_REPLICATION_FACTOR: '3' } : {}),
      NX_DAEMON: 'false',
      NX_NO_CLOUD: 'true',
      NX_TUI: 'false',
      FORCE_COLOR: '0',
    },
  });
  await cassandra.stop();

  const result = tally(output);
  const { passed, failed } = result;
  // A failure that ava did not count (a typecheck error, a crash, no test at all) still counts as one.
  const uncounted = (code !== 0 || passed === 0) && failed === 0 ? 1 : 0;
  process.stdout.write(`\nCassandra ${cassandra.releaseVersion}, ${cassandraOrigin(cassandra)}\n`);
  process.stdout.write(closingLines(result, uncounted));
  return code === 0 && passed > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  },
);
