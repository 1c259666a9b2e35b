/**
 * Hardening of cassandra-driver 4.10's control connection (lib/control-connection.js), applied once
 * per process to its prototype. Upstream tracks the bug as NODEJS-681 (apache/cassandra-nodejs-driver
 * PR #462, unreleased when this was written); seen here as a service dying when Cassandra restarted.
 *
 * - A refresh that finds its host DOWN goes through `_initializeConnection()`, which attaches health
 *   listeners, and `_refresh()` then attaches them again: the next outage fires both sets and starts two
 *   reconnection chains. Here each control connection keeps exactly one set: attaching a new set removes
 *   the set attached before.
 * - Two chains interleave: a second `_refresh()` clears `host` and `connection` while the first awaits
 *   its last step, and the first then throws `TypeError: Cannot read properties of null (reading 'once')`
 *   from `_setHealthListeners(null, null)`. The driver's reconnection timer drops that promise, so the
 *   process dies of an unhandled rejection. Here a refresh requested while one runs joins it, and a
 *   refresh that fails anyway is logged by the driver and retried on the reconnection schedule.
 */
import { createRequire } from 'node:module';

interface HealthSet {
  host: NodeJS.EventEmitter;
  connection: NodeJS.EventEmitter;
  listeners: Array<[NodeJS.EventEmitter, string, (...args: unknown[]) => void]>;
}

interface ControlConnectionLike {
  _isShuttingDown: boolean;
  _reconnectionSchedule: Iterator<number>;
  host: unknown;
  connection: unknown;
  log(level: string, message: string, err?: unknown): void;
  emit(event: string, ...args: unknown[]): boolean;
  _refresh(hostIterator?: unknown): Promise<void>;
  _setHealthListeners(host: NodeJS.EventEmitter, connection: NodeJS.EventEmitter): void;
  __refreshing?: Promise<void>;
  __health?: HealthSet;
}

const hostEvents = ['down', 'ignore'] as const;
const connectionEvents = ['socketClose'] as const;

let applied = false;

export function hardenControlConnection(): void {
  if (applied) return;
  applied = true;
  const require = createRequire(__filename);
  const ControlConnection = require('cassandra-driver/lib/control-connection') as { prototype: ControlConnectionLike };
  const proto = ControlConnection.prototype;
  const refresh = proto._refresh;
  const setHealthListeners = proto._setHealthListeners;
  if (typeof refresh !== 'function' || typeof setHealthListeners !== 'function') {
    throw new Error('cassandra-driver: the control connection is not the one this kit hardens (4.10); review services/kit/src/driver-hardening.ts');
  }

  proto._setHealthListeners = function (this: ControlConnectionLike, host, connection) {
    const previous = this.__health;
    if (previous) for (const [emitter, event, fn] of previous.listeners) emitter.removeListener(event, fn);
    this.__health = undefined;
    const snapshot = (emitter: NodeJS.EventEmitter, events: readonly string[]) =>
      events.map((event) => [event, new Set(emitter.listeners(event))] as const);
    const hostBefore = snapshot(host, hostEvents);
    const connectionBefore = snapshot(connection, connectionEvents);
    setHealthListeners.call(this, host, connection);
    const added: HealthSet['listeners'] = [];
    for (const [emitter, before] of [[host, hostBefore], [connection, connectionBefore]] as const) {
      for (const [event, had] of before) {
        for (const fn of emitter.listeners(event)) if (!had.has(fn)) added.push([emitter, event, fn as (...args: unknown[]) => void]);
      }
    }
    this.__health = { host, connection, listeners: added };
  };

  proto._refresh = function (this: ControlConnectionLike, hostIterator?: unknown) {
    // The driver's own retry within a refresh passes its query plan: part of the refresh that runs.
    if (hostIterator !== undefined) return refresh.call(this, hostIterator);
    if (this.__refreshing) return this.__refreshing;
    // Started a microtask later, so that a refresh requested from within this one already sees it.
    const running = Promise.resolve()
      .then(() => refresh.call(this))
      .catch((err: unknown) => {
        if (this._isShuttingDown) return;
        const delay = this._reconnectionSchedule.next().value;
        this.log('error', `ControlConnection refresh failed; retrying in ${delay}ms`, err);
        setTimeout(() => void this._refresh(), delay);
        this.emit('newConnection', err);
      })
      .finally(() => {
        this.__refreshing = undefined;
      });
    this.__refreshing = running;
    return running;
  };
}
