/**
 * The driver's control connection under reconnection races (cassandra-driver 4.10,
 * lib/control-connection.js; upstream NODEJS-681, apache/cassandra-nodejs-driver#462, unreleased).
 *
 * - `_refresh()` clears `this.host` and `this.connection`, then awaits; a second `_refresh()` starting
 *   while the first is at its last await makes the first call `_setHealthListeners(null, null)`, which
 *   throws `TypeError: Cannot read properties of null (reading 'once')`. When that refresh was started
 *   by the driver's own reconnection timer, nothing catches it and the process dies.
 * - The second refresh comes from duplicated health listeners: a refresh that finds the host DOWN goes
 *   through `_initializeConnection()`, which attaches listeners, and `_refresh()` attaches them again;
 *   the next outage fires both sets and starts two reconnection chains.
 *
 * These tests drive those code paths on a real Cassandra (CASSANDRA_HOST / CASSANDRA_PORT).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import { createClient, loadConfig, type Client } from '../src';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connectedClient(): Promise<{ client: Client; cc: any }> {
  const config = loadConfig('backend', { ...process.env });
  const client = createClient(config.cassandra);
  await client.connect();
  return { client, cc: (client as any).controlConnection };
}

/** Shuts the client down; one left broken by the race may never finish, so give up after 5 s. */
const shutdown = (client: Client) => Promise.race([client.shutdown().catch(() => undefined), sleep(5000)]);

/** The health listeners the control connection attached (the client and the pool add their own). */
const healthListeners = (emitter: any, event: 'down' | 'socketClose') =>
  emitter.listeners(event).filter((fn: Function) => fn.name === (event === 'down' ? 'downOrIgnoredHandler' : 'socketClosedHandler')).length;

test.serial('a refresh that finds its host DOWN leaves one set of health listeners, not two', async (t) => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'control-host-down.ts')], { env: process.env, encoding: 'utf8', timeout: 60_000 });
  t.is(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
  t.is(result.before, 1);
  t.is(result.refreshError, null);
  t.true(result.connected);
  t.is(result.hostDown, 1, 'health listeners of the control host');
  t.is(result.connectionSocketClose, 1, 'health listeners of the control connection');
});

test.serial('a refresh started while another one finishes neither throws nor leaves the control connection unset', async (t) => {
  const { client, cc } = await connectedClient();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    // The interleaving two reconnection chains produce: a second refresh begins (its timer fires)
    // while the first one awaits its last step, and clears `host` before the first one reads it.
    const original = cc._registerToConnectionEvents;
    let second: Promise<unknown> | undefined;
    cc._registerToConnectionEvents = async function (this: any) {
      await original.call(this);
      if (!second) second = Promise.resolve(this._refresh()).then(() => undefined, (err: unknown) => err);
    };
    const first = await Promise.resolve(cc._refresh()).then(() => undefined, (err: unknown) => err);
    cc._registerToConnectionEvents = original;
    t.is(first, undefined, `the first refresh failed: ${(first as Error | undefined)?.stack}`);
    t.true(second !== undefined);
    t.is(await second, undefined);
    // The control connection ends up with a host, a connection and one set of health listeners.
    for (let i = 0; i < 50 && !(cc.host && cc.connection); i++) await sleep(100);
    t.truthy(cc.host);
    t.truthy(cc.connection);
    t.is(healthListeners(cc.host, 'down'), 1);
    t.is(healthListeners(cc.connection, 'socketClose'), 1);
    t.deepEqual(unhandled, []);
    const rs = await client.execute('SELECT release_version FROM system.local');
    t.truthy(rs.first());
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await shutdown(client);
  }
});

test.serial('a refresh that fails outside its own error handling is retried, never an unhandled rejection', async (t) => {
  const { client, cc } = await connectedClient();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    // The driver's reconnection timer calls `this._refresh()` and drops the promise, so a refresh that
    // throws after its try/catch (as _setHealthListeners does in the race above) kills the process.
    let failures = 1;
    cc._setHealthListeners = function (this: any, ...args: unknown[]) {
      if (failures-- > 0) throw new TypeError("Cannot read properties of null (reading 'once')");
      return Object.getPrototypeOf(this)._setHealthListeners.apply(this, args);
    };
    cc._refresh();
    for (let i = 0; i < 100 && !(failures < 0 && cc.connection && (cc.host && healthListeners(cc.host, 'down')) === 1); i++) await sleep(100);
    await sleep(200);
    t.deepEqual(unhandled.map((e) => String(e)), []);
    t.true(failures < 0, 'the failed refresh was retried');
    t.truthy(cc.connection, 'the control connection is set again');
    t.is(healthListeners(cc.host, 'down'), 1);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await shutdown(client);
  }
});
