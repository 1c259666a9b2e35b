/**
 * The Cassandra client: one per process, prepared statements, explicit consistency, short timeouts
 * and retries only for statements marked idempotent.
 */
import { auth, Client, policies, types, type ClientOptions } from 'cassandra-driver';
import type { Config } from './config';
import { hardenControlConnection } from './driver-hardening';

export const consistency = types.consistencies;

/** Defaults for every query; `isIdempotent` must be set per statement where a retry is safe. */
export const queryDefaults = {
  prepare: true,
  consistency: types.consistencies.localQuorum,
  serialConsistency: types.consistencies.localSerial,
} as const;

/** Reads and plain upserts: safe to retry on a timeout. */
export const idempotent = { ...queryDefaults, isIdempotent: true } as const;
/** Lightweight transactions and counters: never retried blindly. */
export const conditional = { ...queryDefaults, isIdempotent: false } as const;

export function clientOptions(config: Config['cassandra'], keyspace?: string): ClientOptions {
  return {
    contactPoints: config.contactPoints,
    protocolOptions: { port: config.port },
    localDataCenter: config.localDataCenter,
    keyspace,
    ...(config.password ? { authProvider: new auth.PlainTextAuthProvider(config.username ?? 'cassandra', config.password) } : {}),
    queryOptions: { ...queryDefaults, isIdempotent: false },
    socketOptions: { connectTimeout: 2000, readTimeout: config.requestTimeoutMs, keepAlive: true },
    policies: {
      retry: new policies.retry.IdempotenceAwareRetryPolicy(new policies.retry.RetryPolicy()),
      reconnection: new policies.reconnection.ExponentialReconnectionPolicy(200, 5000, false),
    },
    pooling: { heartBeatInterval: 15_000 },
  };
}

export function createClient(config: Config['cassandra'], keyspace?: string): Client {
  hardenControlConnection();
  return new Client(clientOptions(config, keyspace));
}

export { Client, types };
