/** A small demo catalog for the local stack (SEED_DEMO_CATALOG=true), written only into an empty catalog. */
import { randomUUID } from 'node:crypto';
import type { ServiceDeps } from '@product-store/kit';
import { ProductRepository } from './repository';

const demo = [
  { name: 'Espresso beans, 1 kg', category: 'coffee', price_cents: 2490, stock: 120, description: 'Dark roast, for espresso and moka pots.' },
  { name: 'Filter coffee, 500 g', category: 'coffee', price_cents: 1290, stock: 200, description: 'Light roast from Ethiopia.' },
  { name: 'Ceramic pour-over dripper', category: 'equipment', price_cents: 3200, stock: 40, description: 'Size 02, white.' },
  { name: 'Burr grinder', category: 'equipment', price_cents: 12900, stock: 15, description: 'Conical steel burrs, 40 settings.' },
  { name: 'Paper filters (100)', category: 'supplies', price_cents: 590, stock: 500, description: 'Unbleached, size 02.' },
  { name: 'Milk jug, 600 ml', category: 'equipment', price_cents: 1850, stock: 60, description: 'Stainless steel.' },
];

export async function seedDemoCatalog({ db, log }: ServiceDeps): Promise<void> {
  const repo = new ProductRepository(db);
  if ((await repo.page(1)).length > 0) return;
  const now = new Date().toISOString();
  for (const { stock, ...item } of demo) {
    await repo.create({ id: randomUUID(), currency: 'USD', created_at: now, updated_at: now, ...item }, stock);
  }
  log.info('seeded the demo catalog', { products: demo.length });
}
