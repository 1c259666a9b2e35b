/**
 * Admin stock changes against concurrent reservations, and compaction of the stock ledger: stock is
 * conserved through both.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { readSettings, types, type RunningService } from '@product-store/kit';
import { call, dropKeyspace, internalHeaders, startTestService, testEnv, tokenFor } from '@product-store/kit/testing';
import { ledgerCompaction } from '../src/compaction';
import { checkStockLimits, defaultStockLimits, ProductRepository, stockLimits, type RepositoryOptions } from '../src/repository';
import { reserveAll } from '../src/stock';
import { backend } from '../src/service';
import { settings } from '../src/settings';

let service: RunningService;
const env = testEnv({ STOCK_OPERATION_DEADLINE_MS: '20000' });
const admin = tokenFor('admin');

test.before(async () => {
  service = await startTestService(backend, env);
});
test.after.always(async () => {
  await service?.stop();
  await dropKeyspace(env.CASSANDRA_KEYSPACE!);
});

async function product(stock: number) {
  const res = await call(service.url, '/products', { method: 'POST', token: admin, body: { name: 'P', price_cents: 500, category: 'c', stock } });
  return res.body.id as string;
}
const stockOf = async (id: string) => (await call(service.url, `/products/${id}`)).body.stock as number;
const patch = (id: string, body: object) => call(service.url, `/products/${id}`, { method: 'PATCH', token: admin, body });
const reserve = (reservation_id: string, product_id: string, quantity = 1) =>
  call(service.url, '/internal/reservations', { method: 'POST', body: { reservation_id, lines: [{ product_id, quantity }] }, headers: internalHeaders });
const release = (reservationId: string, product_id: string) =>
  call(service.url, `/internal/reservations/${reservationId}/release`, { method: 'POST', body: { product_ids: [product_id] }, headers: internalHeaders });
const timeId = () => types.TimeUuid.now().toString();
const atOnce = { ...defaultStockLimits, operationDeadlineMs: 20_000, ledgerSettleMs: 0, ledgerFullSweepMs: 0, compactionPauseMs: 0 };
/** The repository over the service's own database, with rows settling at once (no hour to wait); every sweep reads the whole ledger unless told. */
const settlingAtOnce = (ledgerFullSweepMs = 0, options: RepositoryOptions = {}) => new ProductRepository(service.deps.db, { ...atOnce, ledgerFullSweepMs }, options);
/** A pause a test controls: `reached` resolves when code gets to it, `resume()` lets it go on. */
/** Waits until no process holds the product's compaction lease (the service compacts after releases too). */
async function leaseFree(id: string) {
  for (;;) {
    const rs = await service.deps.db.execute('SELECT owner FROM ledger_compaction WHERE product_id = ?', [types.Uuid.fromString(id)], { prepare: true });
    if (!rs.first()?.get('owner')) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
function gate() {
  let reach!: () => void;
  let resume!: () => void;
  const reached = new Promise<void>((r) => (reach = r));
  const resumed = new Promise<void>((r) => (resume = r));
  return { reached, resume, pause: async () => (reach(), resumed) };
}

test('restocks by stock_delta during concurrent reservations lose none of them: stock is conserved', async (t) => {
  const id = await product(50);
  const results = await Promise.all([
    ...Array.from({ length: 60 }, () => reserve(randomUUID(), id)),
    ...Array.from({ length: 5 }, () => patch(id, { stock_delta: 10 })),
  ]);
  const reservations = results.slice(0, 60);
  const restocks = results.slice(60);
  t.true(restocks.every((r) => r.status === 200), restocks.map((r) => r.status).join());
  t.true(reservations.every((r) => r.status === 200 || (r.status === 409 && r.body.code === 'OUT_OF_STOCK')));
  const reserved = reservations.filter((r) => r.status === 200).length;
  t.is(await stockOf(id), 50 + 5 * 10 - reserved);
});

test('stock_delta takes stock too, never below 0; it and stock together, or a bad value, are 400', async (t) => {
  const id = await product(5);
  t.is((await patch(id, { stock_delta: -3 })).body.stock, 2);
  const refused = await patch(id, { stock_delta: -3, name: 'Renamed' });
  t.is(refused.status, 409);
  t.is(refused.body.code, 'STOCK_CONFLICT');
  t.is(refused.body.stock, 2);
  t.regex(refused.headers.get('content-type') ?? '', /problem\+json/);
  t.is((await call(service.url, `/products/${id}`)).body.name, 'P', 'a refused patch changes nothing');
  for (const body of [{ stock: 1, stock_delta: 1 }, { stock_delta: 1.5 }, { stock_delta: '1' }, { stock_delta: 2_000_000_000 }]) {
    const res = await patch(id, body);
    t.is(res.status, 400, JSON.stringify(body));
    t.is(res.body.code, 'VALIDATION_FAILED');
  }
  t.is((await patch(randomUUID(), { stock_delta: 1 })).status, 404);
  t.is(await stockOf(id), 2);
  t.is((await patch(id, { stock: 7 })).body.stock, 7, 'stock still sets an absolute value');
});

test('stock with expected_stock applies only on the stock the admin saw: a reservation made since is never overwritten', async (t) => {
  const id = await product(10);
  const seen = await stockOf(id);
  t.is((await reserve(randomUUID(), id, 3)).status, 200, 'a customer reserves after the admin looked');
  const refused = await patch(id, { stock: 25, expected_stock: seen, name: 'Renamed' });
  t.is(refused.status, 409);
  t.is(refused.body.code, 'STOCK_CONFLICT');
  t.is(refused.body.stock, 7, 'the answer carries the current stock to read again');
  t.is((await call(service.url, `/products/${id}`)).body.name, 'P', 'a refused patch changes nothing');
  t.is(await stockOf(id), 7);
  const applied = await patch(id, { stock: 25, expected_stock: 7 });
  t.is(applied.status, 200);
  t.is(applied.body.stock, 25);
  // Racing admins on the same view: exactly one wins, whatever the interleaving.
  const racing = await Promise.all([30, 40, 50].map((stock) => patch(id, { stock, expected_stock: 25 })));
  t.deepEqual(racing.map((r) => r.status).sort(), [200, 409, 409]);
  t.is(await stockOf(id), racing.find((r) => r.status === 200)!.body.stock);
  t.is((await patch(id, { expected_stock: 5 })).status, 400, 'expected_stock goes with stock');
  t.is((await patch(randomUUID(), { stock: 1, expected_stock: 0 })).status, 404);
});

test('compaction deletes the settled ledger rows, concurrently with reservations and releases: stock unchanged, ledger bounded by the open reservations', async (t) => {
  const id = await product(1000);
  const repo = settlingAtOnce();
  const open: string[] = [];
  const settle = async (round: number) => {
    // Each round: 20 reservations, 15 of them released, and 5 releases of ids never reserved (markers).
    // Time-based ids, as order-service's: only those leave the ledger (see the test on other ids).
    const ids = Array.from({ length: 20 }, timeId);
    await Promise.all(ids.map((rid) => reserve(rid, id)));
    await Promise.all([...ids.slice(0, 15).map((rid) => release(rid, id)), ...Array.from({ length: 5 }, () => release(timeId(), id))]);
    open.push(...ids.slice(15));
    return round;
  };
  // Rounds of reservations and releases, with compactions running through them.
  await Promise.all([settle(1), settle(2), settle(3), repo.compactLedger(id), repo.compactLedger(id).then(() => repo.compactLedger(id))]);
  await repo.compactLedger(id);
  t.is(await stockOf(id), 1000 - open.length, 'stock is what the open reservations left');
  t.is(await repo.ledgerSize(id), 0, 'settled rows deleted, the open reservations moved out (they are old at once here)');
  // Stock reads stop at the base row: none scans the tombstones of the deleted rows.
  const traced = await service.deps.db.execute('SELECT stock FROM product_stock WHERE product_id = ? LIMIT 1', [types.Uuid.fromString(id)], { prepare: true, traceQuery: true });
  const trace = await service.deps.db.metadata.getTrace(traced.info.traceId);
  const scannedTombstones = trace.events.map((e: { activity: string }) => /(\d+) tombstone cells/.exec(e.activity)?.[1]).filter((n: string | undefined) => n !== undefined);
  t.true(scannedTombstones.length > 0 && scannedTombstones.every((n: string) => n === '0'), JSON.stringify(trace.events.map((e: { activity: string }) => e.activity)));

  // What the deleted rows guarded still holds: a repeated release gives nothing back twice, and the
  // open reservations are still released exactly once.
  const compacted = timeId();
  await reserve(compacted, id);
  await release(compacted, id);
  await repo.compactLedger(id);
  t.is((await release(compacted, id)).body.lines[0].outcome, 'unknown');
  t.is(await stockOf(id), 1000 - open.length);
  const outcomes = await Promise.all(open.map((rid) => release(rid, id)));
  t.true(outcomes.every((r) => r.body.lines[0].outcome === 'released'));
  t.is(await stockOf(id), 1000);
});

test('compaction moves old open reservations out of the ledger; cancelling them later still gives the stock back exactly once', async (t) => {
  const id = await product(100);
  const repo = settlingAtOnce();
  const orders = Array.from({ length: 10 }, () => types.TimeUuid.now().toString());
  t.true((await Promise.all(orders.map((rid) => reserve(rid, id, 2)))).every((r) => r.status === 200));
  t.is(await repo.compactLedger(id), 10);
  t.is(await repo.ledgerSize(id), 0, 'the ledger is empty: every open reservation moved out');
  t.is(await stockOf(id), 80);

  // Cancellations of moved reservations, each sent three times at once, with compactions running.
  const [first, second] = [orders.slice(0, 5), orders.slice(5)];
  const releases = await Promise.all([...first.flatMap((rid) => [release(rid, id), release(rid, id), release(rid, id)]), repo.compactLedger(id)]);
  const outcomes = releases.slice(0, 15).map((r) => (r as Awaited<ReturnType<typeof release>>).body.lines[0].outcome);
  t.is(outcomes.filter((o) => o === 'released').length, 5, outcomes.join());
  t.is(await stockOf(id), 90);

  await repo.compactLedger(id);
  t.is(await repo.ledgerSize(id), 0, 'released and settled: gone again');
  t.is((await release(first[0], id)).body.lines[0].outcome, 'unknown', 'a release after that changes nothing');
  t.is(await stockOf(id), 90);

  await Promise.all([...second.map((rid) => release(rid, id)), repo.compactLedger(id), repo.compactLedger(id)]);
  t.is(await stockOf(id), 100, 'every unit back, none twice');
  await repo.compactLedger(id);
  t.is(await repo.ledgerSize(id), 0);
});

test('between full sweeps, compaction starts where the last sweep ended: new rows are compacted, an old straggler waits for the full sweep', async (t) => {
  const id = await product(100);
  const repo = settlingAtOnce(3_600_000);
  const cycle = async () => {
    const ids = Array.from({ length: 5 }, () => types.TimeUuid.now().toString());
    await Promise.all(ids.map((rid) => reserve(rid, id)));
    await Promise.all(ids.map((rid) => release(rid, id)));
  };
  await cycle();
  t.is(await repo.compactLedger(id), 5, 'the first sweep reads the whole ledger');
  await cycle();
  t.is(await repo.compactLedger(id), 5, 'the next starts at the last horizon and finds the new rows');
  await release(types.TimeUuid.fromDate(new Date(Date.now() - 10 * 60_000)).toString(), id); // a marker at an old id
  t.is(await repo.compactLedger(id), 0);
  t.is(await repo.ledgerSize(id), 1);
  t.is(await settlingAtOnce().compactLedger(id), 1, 'a full sweep takes it');
  t.is(await repo.ledgerSize(id), 0);
  t.is(await stockOf(id), 100);
});

test('compaction leaves rows younger than the settle horizon; a reservation whose time-based id is older than it is refused', async (t) => {
  const id = await product(10);
  const rid = randomUUID();
  await reserve(rid, id);
  await release(rid, id);
  const hourly = new ProductRepository(service.deps.db);
  t.is(await hourly.compactLedger(id), 0);
  t.is(await hourly.ledgerSize(id), 1);

  const old = types.TimeUuid.fromDate(new Date(Date.now() - defaultStockLimits.ledgerSettleMs - 60_000)).toString();
  const late = await reserve(old, id);
  t.is(late.status, 409);
  t.is(late.body.code, 'RESERVATION_RELEASED');
  t.is(await stockOf(id), 10);
  t.is((await reserve(types.TimeUuid.now().toString(), id)).status, 200, 'a fresh time-based id reserves');
});

test('a mover that read an open row before it was released and settled leaves no live copy: the stock is never given back twice', async (t) => {
  const id = await product(10);
  const rid = timeId();
  t.is((await reserve(rid, id, 3)).status, 200);
  // B's pass reads the row open (the reservation is old enough to move) and stalls before writing.
  const stall = gate();
  const mover = settlingAtOnce(0, { afterRead: stall.pause });
  const moving = mover.compactLedger(id);
  await stall.reached;
  // The order is cancelled; A's pass (the release triggers one) finds the row released and settled.
  t.is((await release(rid, id)).body.lines[0].outcome, 'released');
  t.is(await settlingAtOnce().compactLedger(id), 1);
  t.is(await stockOf(id), 10);
  // B goes on and writes its copy late; then the release is repeated (recovery, a lost 200).
  stall.resume();
  await moving;
  t.is((await release(rid, id)).body.lines[0].outcome, 'unknown');
  t.is(await stockOf(id), 10, 'the stock never goes above its initial value');
});

test('one process compacts a product at a time; the sweep state is shared, so a new process does not start a full sweep again', async (t) => {
  const id = await product(100);
  const ids = Array.from({ length: 4 }, timeId);
  await Promise.all(ids.map((rid) => reserve(rid, id)));
  await Promise.all(ids.map((rid) => release(rid, id)));
  const stall = gate();
  const holder = settlingAtOnce(3_600_000, { owner: types.Uuid.random(), afterRead: stall.pause });
  await leaseFree(id);
  const compacting = holder.compactLedger(id);
  await stall.reached;
  t.is(await settlingAtOnce(3_600_000, { owner: types.Uuid.random() }).compactLedger(id), 0, 'another replica does nothing meanwhile');
  t.is(await settlingAtOnce(3_600_000, { owner: types.Uuid.random() }).ledgerSize(id), 4);
  stall.resume();
  t.is(await compacting, 4);

  // A straggler before the last horizon: a fresh process (another replica, a restart) knows the full
  // sweep ran and leaves it to the next one, instead of reading the whole ledger again.
  await release(types.TimeUuid.fromDate(new Date(Date.now() - 10 * 60_000)).toString(), id);
  await leaseFree(id);
  t.is(await settlingAtOnce(3_600_000, { owner: types.Uuid.random() }).compactLedger(id), 0);
  t.is(await settlingAtOnce().ledgerSize(id), 1);
  t.is(await settlingAtOnce(0, { owner: types.Uuid.random() }).compactLedger(id), 1, 'the next full sweep takes it');
  t.is(await stockOf(id), 100);
});

test('rows leave the ledger only at twice the settle time; a stock deadline too close to it is refused at start-up', async (t) => {
  const id = await product(10);
  const repo = new ProductRepository(service.deps.db, { ...atOnce, ledgerSettleMs: 60_000, operationDeadlineMs: 15_000 });
  const rid = timeId();
  await reserve(rid, id);
  await release(rid, id);
  t.is(await repo.compactLedger(id, Date.now() + 90_000), 0, 'older than the settle time, not twice it: kept');
  t.is(await repo.ledgerSize(id), 1);
  t.is(await repo.compactLedger(id, Date.now() + 130_000), 1);
  t.throws(() => checkStockLimits({ ...defaultStockLimits, operationDeadlineMs: 1_000_000 }), { message: /STOCK_OPERATION_DEADLINE_MS/ });
  t.notThrows(() => checkStockLimits(stockLimits(readSettings(settings, { STOCK_OPERATION_DEADLINE_MS: '60000' }))));
});

test("a reservation retried after its id expired is refused without giving back the confirmed order's hold", async (t) => {
  const id = await product(10);
  const repo = new ProductRepository(service.deps.db, { ...atOnce, ledgerSettleMs: 1000, operationDeadlineMs: 200 });
  const rid = timeId();
  const lines = [{ product_id: id, quantity: 2 }];
  t.true((await reserveAll(repo, rid, lines)).ok);
  await new Promise((r) => setTimeout(r, 1200));
  t.deepEqual(await reserveAll(repo, rid, lines), { ok: false, reason: 'released', product_ids: [id] });
  t.is(await stockOf(id), 8, 'the order still holds its 2');
});

test('settled rows and markers of ids that are not time-based stay in the ledger: a late reservation of such an id is still refused', async (t) => {
  const id = await product(10);
  const [reserved, never] = [randomUUID(), randomUUID()];
  await reserve(reserved, id);
  await release(reserved, id);
  await release(never, id);
  t.is(await settlingAtOnce().compactLedger(id), 0);
  t.is(await settlingAtOnce().ledgerSize(id), 2);
  for (const rid of [reserved, never]) {
    const late = await reserve(rid, id);
    t.is(late.status, 409);
    t.is(late.body.code, 'RESERVATION_RELEASED');
  }
  t.is(await stockOf(id), 10);
});

test('the compaction worker: stop() waits for a pass under way, which gives its lease back; after stop no pass starts', async (t) => {
  const [id, other] = [await product(10), await product(10)];
  for (const p of [id, other]) {
    const rid = timeId();
    await reserve(rid, p);
    await release(rid, p);
    await leaseFree(p);
  }
  const leaseOf = async (p: string) =>
    (await service.deps.db.execute('SELECT owner FROM ledger_compaction WHERE product_id = ?', [types.Uuid.fromString(p)], { prepare: true })).first()?.get('owner') ?? null;
  const paused = gate();
  // Its own lease owner, as another process would be; rows settle at once, so the pass has one to delete.
  const repo = settlingAtOnce(0, { owner: types.Uuid.random(), afterRead: paused.pause });
  const worker = ledgerCompaction(repo, service.deps.log);
  worker.start();
  worker.touched(id);
  await paused.reached;
  let stopped = false;
  const stopping = worker.stop().then(() => (stopped = true));
  await new Promise((r) => setTimeout(r, 300));
  t.false(stopped, 'stop() waits for the pass under way');
  t.not(await leaseOf(id), null, 'which holds the lease');
  paused.resume();
  await stopping;
  t.is(await leaseOf(id), null, 'the pass gave its lease back before stop() resolved');
  t.is(await repo.ledgerSize(id), 0, 'and finished the window it had read');

  worker.touched(other);
  await new Promise((r) => setTimeout(r, 300));
  t.is(await repo.ledgerSize(other), 1, 'a stopped worker starts no pass');
  t.is(await stockOf(id), 10);
});
