/**
 * Workers (ServiceDefinition.workers): started once the service is up, and at stop awaited, with the
 * pass they have under way, before the stop hooks run and the database client closes.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Router from '@koa/router';
import test from 'ava';
import { idempotent, type Client, type ServiceDefinition } from '../src';
import { dropKeyspace, startTestService, testEnv } from '../testing';

const keyspaces: string[] = [];
test.after.always(async () => {
  for (const ks of keyspaces) await dropKeyspace(ks);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 'open' when the client still answers a query, else 'closed'. */
const database = (db: Client) =>
  db.execute('SELECT release_version FROM system.local', [], idempotent).then(
    () => 'open',
    () => 'closed',
  );

/** A service whose one worker runs a pass of `passMs` at start, and whose stop takes a while more. */
function recorded(events: string[], passMs: number, extra: Partial<ServiceDefinition> = {}): ServiceDefinition {
  return {
    name: 'backend',
    migrations: [],
    setup: (deps) => deps.onStop(() => void events.push('stop hook')),
    routes: () => new Router(),
    afterStart: async () => {
      events.push('afterStart');
    },
    workers: ({ db }) => {
      let current: Promise<void> | undefined;
      return [
        {
          name: 'slow pass',
          start() {
            events.push('worker start');
            current = (async () => {
              events.push('pass begins');
              await sleep(passMs);
              events.push(`pass ends, database ${await database(db)}`);
            })();
          },
          async stop() {
            events.push('worker stop');
            await current;
            await sleep(300);
            events.push(`worker stopped, database ${await database(db)}`);
          },
        },
      ];
    },
    ...extra,
  };
}

test('stop(): a worker starts after afterStart; its pass under way and its slow stop end before the stop hooks and the database close', async (t) => {
  const env = testEnv();
  keyspaces.push(env.CASSANDRA_KEYSPACE!);
  const events: string[] = [];
  const running = await startTestService(recorded(events, 800), env);
  t.deepEqual(events, ['afterStart', 'worker start', 'pass begins']);
  await sleep(100);
  await running.stop();
  t.deepEqual(events, ['afterStart', 'worker start', 'pass begins', 'worker stop', 'pass ends, database open', 'worker stopped, database open', 'stop hook']);
  // What the worker observed is meaningful: once stop() is done, the same query finds the client closed.
  t.is(await database(running.deps.db), 'closed');
});

test('a worker whose start fails: the service does not start, and the workers already started are stopped first', async (t) => {
  const env = testEnv();
  keyspaces.push(env.CASSANDRA_KEYSPACE!);
  const events: string[] = [];
  const base = recorded(events, 300);
  let db: Client | undefined;
  const failing: ServiceDefinition = {
    ...base,
    workers: (deps) => {
      db = deps.db;
      return [
        ...base.workers!(deps, undefined),
        {
          name: 'broken',
          start: () => Promise.reject(new Error('cannot start')),
          stop: async () => void events.push('broken worker stop'),
        },
      ];
    },
  };
  await t.throwsAsync(() => startTestService(failing, env), { message: 'cannot start' });
  t.deepEqual(events, ['afterStart', 'worker start', 'pass begins', 'worker stop', 'broken worker stop', 'pass ends, database open', 'worker stopped, database open', 'stop hook']);
  t.is(await database(db!), 'closed');
});

test('SIGTERM during a pass: the pass completes with the database open, then the process exits 0', async (t) => {
  const env = testEnv({ LOG_LEVEL: 'info', PASS_MS: '1500' });
  keyspaces.push(env.CASSANDRA_KEYSPACE!);
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'worker-service.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const lines: Array<{ msg: string; database?: string }> = [];
  let buffered = '';
  const began = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const complete = buffered.split('\n');
      buffered = complete.pop()!;
      for (const line of complete) {
        if (!line.trim()) continue;
        const entry = JSON.parse(line) as { msg: string; database?: string };
        lines.push(entry);
        if (entry.msg === 'pass began') resolve();
      }
    });
    child.once('exit', () => reject(new Error(`exited before its pass began: ${JSON.stringify(lines)}`)));
  });
  await began;
  child.kill('SIGTERM');
  t.is(await exited, 0);
  const events = lines.map((l) => (l.database ? `${l.msg}, database ${l.database}` : l.msg)).filter((m) => /pass|worker|stopped|signal/.test(m));
  t.deepEqual(events, ['pass began', 'signal received', 'worker stopping', 'pass ended, database open', 'worker stopped, database open', 'stopped']);
});

test('a worker that does not stop holds up the stop only for what is left of SHUTDOWN_TIMEOUT_MS (at least 1 s): the stop hooks and the database close go on', async (t) => {
  const env = testEnv({ SHUTDOWN_TIMEOUT_MS: '500' });
  keyspaces.push(env.CASSANDRA_KEYSPACE!);
  const events: string[] = [];
  const running = await startTestService(
    {
      name: 'backend',
      migrations: [],
      setup: (deps) => deps.onStop(() => void events.push('stop hook')),
      routes: () => new Router(),
      // A pass stuck on something that never answers (what an unreachable dependency looks like).
      workers: () => [{ name: 'stuck', start: () => undefined, stop: () => new Promise<void>(() => undefined) }],
    },
    env,
  );
  const began = Date.now();
  await running.stop();
  const took = Date.now() - began;
  t.deepEqual(events, ['stop hook']);
  t.is(await database(running.deps.db), 'closed');
  // The drain of an idle server is immediate: what remains is the workers' bound (1 s here), not forever.
  t.true(took >= 1000 && took < 5000, `stop took ${took} ms`);
});
