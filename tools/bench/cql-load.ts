/**
 * "The driver alone": the prepared queries a hot route runs, issued straight through cassandra-driver
 * with the kit's own client options (prepare, LOCAL_QUORUM, the retry policy), by a fixed number of
 * concurrent loops for a fixed time. One operation = everything the route asks Cassandra for one
 * request, in the same order and parallelism as its repository code.
 */
import { Client, types } from 'cassandra-driver';
import { clientOptions, idempotent } from '@product-store/kit';
import { summarize, type LatencySummary } from './stats';
import { catalogColumns, rowToEntry } from '../../services/backend/src/repository';

export type CqlOperation =
  /** GET /products/{id}: the catalog row and its stock, in parallel (ProductRepository.get + stockOf). */
  | { route: 'product'; productId: string }
  /** GET /products?limit=N: one page of N+1 rows, then the stock of the N shown. */
  | { route: 'products'; limit: number }
  /** GET /cart: the user's lines, then each product's row (in parallel) and their stock (backend's lookup). */
  | { route: 'cart'; userId: string };

export interface CqlLoadSpec {
  host: string;
  port: number;
  keyspace: string;
  operation: CqlOperation;
  concurrency: number;
  durationMs: number;
  warmupMs?: number;
}

export interface CqlLoadResult {
  operations: number;
  seconds: number;
  ops: number;
  errors: number;
  latencyMs: LatencySummary;
}

const Uuid = types.Uuid;

export function operationFor(db: Client, op: CqlOperation): () => Promise<unknown> {
  const get = async (id: string) => {
    const row = (await db.execute(`SELECT ${catalogColumns} FROM products WHERE id = ?`, [Uuid.fromString(id)], idempotent)).first();
    return row ? rowToEntry(row) : undefined;
  };
  const stockOf = async (ids: string[]) => {
    if (ids.length === 0) return new Map<string, number>();
    const rs = await db.execute('SELECT DISTINCT product_id, stock FROM product_stock WHERE product_id IN ?', [ids.map((id) => Uuid.fromString(id))], idempotent);
    return new Map(rs.rows.map((r) => [r.get('product_id').toString(), r.get('stock') as number]));
  };
  switch (op.route) {
    case 'product':
      return () => Promise.all([get(op.productId), stockOf([op.productId])]);
    case 'products':
      return async () => {
        const rs = await db.execute(`SELECT ${catalogColumns} FROM products LIMIT ?`, [op.limit + 1], idempotent);
        const page = rs.rows.map(rowToEntry).slice(0, op.limit);
        return stockOf(page.map((e) => e.id));
      };
    case 'cart':
      return async () => {
        const rs = await db.execute('SELECT product_id, quantity FROM cart_items WHERE user_id = ?', [Uuid.fromString(op.userId)], idempotent);
        const ids = rs.rows.map((r) => r.get('product_id').toString() as string);
        const entries = (await Promise.all(ids.map(get))).filter((e) => e !== undefined);
        return stockOf(entries.map((e) => e!.id));
      };
  }
}

/** A client of the bench's Cassandra with the kit's own options (prepare, LOCAL_QUORUM, the retry policy). */
export function benchClient(spec: Pick<CqlLoadSpec, 'host' | 'port' | 'keyspace'>): Client {
  return new Client(
    clientOptions(
      { contactPoints: [spec.host], port: spec.port, keyspace: spec.keyspace, localDataCenter: 'datacenter1', replicationFactor: 1, requestTimeoutMs: 2000 },
      spec.keyspace,
    ),
  );
}

export async function runCqlLoad(spec: CqlLoadSpec): Promise<CqlLoadResult> {
  const db = benchClient(spec);
  await db.connect();
  const operation = operationFor(db, spec.operation);
  await operation(); // prepares the statements
  const started = performance.now();
  const measureFrom = started + (spec.warmupMs ?? 0);
  const measureUntil = measureFrom + spec.durationMs;
  const latencies: number[] = [];
  let errors = 0;
  const loop = async () => {
    while (performance.now() < measureUntil) {
      const t = performance.now();
      try {
        await operation();
      } catch {
        errors++;
        continue;
      }
      const now = performance.now();
      if (t >= measureFrom && now <= measureUntil) latencies.push(now - t);
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, loop));
  await db.shutdown();
  const seconds = spec.durationMs / 1000;
  return { operations: latencies.length, seconds, ops: latencies.length / seconds, errors, latencyMs: summarize(latencies) };
}
