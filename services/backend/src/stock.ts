/**
 * Reservations of several lines, all or nothing: each line is taken exactly once through the ledger;
 * when any line is short, the lines taken are given back and the caller learns which were short.
 */
import type { CatalogEntry } from './catalog';
import type { ProductRepository } from './repository';

export interface ReservationLine {
  product_id: string;
  quantity: number;
}

export type ReserveResult =
  | { ok: true; lines: Array<ReservationLine & Pick<CatalogEntry, 'name' | 'price_cents' | 'currency'>> }
  | { ok: false; reason: 'not_found' | 'out_of_stock' | 'released'; product_ids: string[] };

export async function reserveAll(repo: ProductRepository, reservationId: string, lines: ReservationLine[]): Promise<ReserveResult> {
  const entries = await Promise.all(lines.map((l) => repo.get(l.product_id)));
  const missing = lines.filter((_, i) => !entries[i]).map((l) => l.product_id);
  if (missing.length) return { ok: false, reason: 'not_found', product_ids: missing };

  const outcomes = await Promise.all(lines.map((l) => repo.reserve(l.product_id, reservationId, l.quantity)));
  const failed = (kind: string) => lines.filter((_, i) => outcomes[i] === kind).map((l) => l.product_id);
  const short = failed('short');
  const releasedBefore = failed('released_before');
  if (short.length || releasedBefore.length) {
    await releaseAll(repo, reservationId, lines.map((l) => l.product_id));
    return short.length
      ? { ok: false, reason: 'out_of_stock', product_ids: short }
      : { ok: false, reason: 'released', product_ids: releasedBefore };
  }
  return {
    ok: true,
    lines: lines.map((l, i) => ({ ...l, name: entries[i]!.name, price_cents: entries[i]!.price_cents, currency: entries[i]!.currency })),
  };
}

export async function releaseAll(repo: ProductRepository, reservationId: string, productIds: string[]) {
  const outcomes = await Promise.all(productIds.map((id) => repo.release(id, reservationId)));
  return productIds.map((product_id, i) => ({ product_id, outcome: outcomes[i] }));
}
