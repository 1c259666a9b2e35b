/**
 * `npm test`: starts the project's Cassandra (or uses CASSANDRA_HOST), runs every project's typecheck
 * and test targets through Nx, stops what it started, and ends with one `N passed, N failed` line.
 */
import { ensureCassandra, repoRoot } from '../cassandra/launcher';
import { runEchoed, tally } from './tally';

async function main(): Promise<number> {
  const cassandra = await ensureCassandra();
  const args = ['nx', 'run-many', '-t', 'typecheck', 'test', '--outputStyle=stream', '--parallel=1', ...process.argv.slice(2)];
  const { code, output } = await runEchoed('npx', args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      CASSANDRA_HOST: cassandra.host,
      CASSANDRA_PORT: String(cassandra.port),
      NX_DAEMON: 'false',
      NX_NO_CLOUD: 'true',
      NX_TUI: 'false',
      FORCE_COLOR: '0',
    },
  });
  await cassandra.stop();

  const { passed, failed } = tally(output);
  // A failure that ava did not count (a typecheck error, a crash, no test at all) still counts as one.
  const uncounted = (code !== 0 || passed === 0) && failed === 0 ? 1 : 0;
  const origin = process.env.CASSANDRA_HOST ? `at ${cassandra.host} (CASSANDRA_HOST)` : cassandra.owned ? `started in ${(cassandra.startMs / 1000).toFixed(1)} s` : 'already running, shared';
  process.stdout.write(`\nCassandra ${cassandra.releaseVersion}, ${origin}\n`);
  process.stdout.write(`${passed} passed, ${failed + uncounted} failed\n`);
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
