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
  | { ok: false; reason: 'not_found' | 'out_of_stock' | 'released' | 'currency_mismatch'; product_ids: string[] };

/**
 * The lines priced in another currency than the cart's: the one most lines are in, ties going to the
 * first line's (cart-service shows a cart's currency by the same rule). An order has one currency, so
 * its total never adds minor units of two; a cart holds two only after an admin changed a product's.
 */
export function otherCurrencyLines(lines: ReservationLine[], currencies: string[]): string[] {
  const counts = new Map<string, number>();
  for (const c of currencies) counts.set(c, (counts.get(c) ?? 0) + 1);
  let cart: string | undefined;
  for (const [c, n] of counts) if (cart === undefined || n > counts.get(cart)!) cart = c;
  return lines.filter((_, i) => currencies[i] !== cart).map((l) => l.product_id);
}

export async function reserveAll(repo: ProductRepository, reservationId: string, lines: ReservationLine[]): Promise<ReserveResult> {
  const entries = await Promise.all(lines.map((l) => repo.get(l.product_id)));
  const missing = lines.filter((_, i) => !entries[i]).map((l) => l.product_id);
  if (missing.length) return { ok: false, reason: 'not_found', product_ids: missing };
  // Checked before anything is taken; the order is priced from these same entries, so its lines agree.
  const otherCurrency = otherCurrencyLines(lines, entries.map((e) => e!.currency));
  if (otherCurrency.length) return { ok: false, reason: 'currency_mismatch', product_ids: otherCurrency };

  const outcomes = await Promise.all(lines.map((l) => repo.reserve(l.product_id, reservationId, l.quantity)));
  const failed = (kind: string) => lines.filter((_, i) => outcomes[i] === kind).map((l) => l.product_id);
  const short = failed('short');
  const releasedBefore = failed('released_before');
  const expired = failed('expired');
  if (expired.length) {
    // The id is too old to reserve (its ledger rows may be compacted away), and it may be a confirmed
    // order's: give back only what this call took, never a hold an earlier call made.
    await releaseAll(repo, reservationId, lines.filter((_, i) => outcomes[i] === 'reserved').map((l) => l.product_id));
    return { ok: false, reason: 'released', product_ids: [...releasedBefore, ...expired] };
  }
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
