/**
 * `npm test`: starts the project's Cassandra (or uses CASSANDRA_HOST), runs every project's typecheck
 * and test targets through Nx, stops what it started, and ends with one `N passed, N failed` line.
 */
import { spawn } from 'node:child_process';
import { ensureCassandra, repoRoot } from '../cassandra/launcher';

/** Ava's summary lines, e.g. "12 tests passed", "1 test failed", "2 uncaught exceptions". */
function tally(text: string) {
  const plain = text.replace(/\u001b\[[0-9;]*m/g, '');
  const count = (pattern: RegExp) => [...plain.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0);
  return {
    passed: count(/^\s*(?:\S+\s+)?(\d+) tests? passed/gm),
    failed: count(/^\s*(?:\S+\s+)?(\d+) (?:tests? failed|uncaught exceptions?|unhandled rejections?|tests? remained pending|known failures?)/gm),
  };
}

async function main(): Promise<number> {
  const cassandra = await ensureCassandra();
  const args = ['nx', 'run-many', '-t', 'typecheck', 'test', '--outputStyle=stream', '--parallel=1', ...process.argv.slice(2)];
  const child = spawn('npx', args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
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
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    process.stdout.write(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    process.stderr.write(chunk);
  });
  const stopOnSignal = () => child.kill('SIGTERM');
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
  await cassandra.stop();

  const { passed, failed } = tally(output);
  // A failure that ava did not count (a typecheck error, a crash) still counts as one.
  const uncounted = code !== 0 && failed === 0 ? 1 : 0;
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
