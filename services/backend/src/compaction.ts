/**
 * Stock ledger compaction as backend's worker. Releases are what leave settled rows in a ledger: a
 * product released from is compacted in the background, now and then (rows leave the ledger two hours
 * after their reservation or release; see ProductRepository.compactLedger). On stop no new pass starts,
 * and the passes under way end at their next window and give their per-product lease back before the
 * database client closes (a pass cut by the closed client would hold its lease until it expires).
 */
import type { Logger, Worker } from '@product-store/kit';
import type { ProductRepository } from './repository';

/** A product's ledger is compacted at most this often per process, after a release touched it. */
export const COMPACT_EVERY_MS = 10 * 60_000;
/** Products remembered for COMPACT_EVERY_MS, at most (the oldest is forgotten first). */
const REMEMBERED = 10_000;

export interface LedgerCompaction extends Worker {
  /** A release touched the product: compact its ledger in the background, unless done lately. */
  touched(productId: string): void;
}

export function ledgerCompaction(repo: ProductRepository, log: Logger): LedgerCompaction {
  const lastCompacted = new Map<string, number>();
  const underWay = new Set<Promise<unknown>>();
  let stopping = false;
  return {
    name: 'stock ledger compaction',
    start() {},
    touched(productId) {
      if (stopping) return;
      const last = lastCompacted.get(productId);
      if (last !== undefined && Date.now() - last < COMPACT_EVERY_MS) return;
      lastCompacted.delete(productId);
      lastCompacted.set(productId, Date.now());
      if (lastCompacted.size > REMEMBERED) lastCompacted.delete(lastCompacted.keys().next().value!);
      const pass = repo.compactLedger(productId, Date.now(), () => stopping).then(
        (deleted) => deleted > 0 && log.info('compacted a stock ledger', { product_id: productId, rows: deleted }),
        (err) => log.warn('stock ledger compaction failed; the next release tries again', { product_id: productId, err: (err as Error).message }),
      );
      underWay.add(pass);
      void pass.finally(() => underWay.delete(pass));
    },
    async stop() {
      stopping = true;
      await Promise.all(underWay);
    },
  };
}
