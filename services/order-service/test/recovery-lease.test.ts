/**
 * Recovery runs on one order-service replica at a time (recovery-lease.ts): each interval, one replica
 * holds the lease and scans; the others only check the lease. When the holder stops or dies, another
 * takes over (at once after a release, within the lease's TTL after a crash).
 */
import test from 'ava';
import { startTestService, type TestStack } from '@product-store/kit/testing';
import type { RunningService } from '@product-store/kit';
import { RecoveryLease } from '../src/recovery-lease';
import { orderService } from '../src/service';
import { startShop } from './helpers';

// The lease's TTL is three intervals (3 s): far longer than a pass here, even on a busy machine.
const INTERVAL_MS = 1000;
let stack: TestStack;
const extra: RunningService[] = [];

test.before(async () => {
  stack = await startShop({ CHECKOUT_RECOVERY_INTERVAL_MS: String(INTERVAL_MS) });
});
test.after.always(async () => {
  for (const s of extra) await s.stop().catch(() => undefined);
  await stack?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metric(service: RunningService, name: string): Promise<number> {
  const page = await (await fetch(`${service.url}/metrics`)).text();
  const line = page.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test.serial('three leases on one name: one holder at a time, which keeps it; a release hands it over, an expiry too', async (t) => {
  const db = stack.services['order-service']!.deps.db;
  // Their own name: the running replica's lease is not involved. TTL 3 s (the minimum is 1 s).
  const leases = [1, 2, 3].map(() => new RecoveryLease(db, 1000, 'lease-test'));
  const holders: string[] = [];
  for (let round = 0; round < 4; round++) {
    const got = await Promise.all(leases.map((l) => l.acquire()));
    t.is(got.filter(Boolean).length, 1, `round ${round}: one holder`);
    holders.push(leases[got.indexOf(true)].owner);
  }
  t.is(new Set(holders).size, 1, 'the holder keeps it while it renews');
  const first = leases.find((l) => l.owner === holders[0])!;
  const others = leases.filter((l) => l !== first);

  await first.release();
  const next = await Promise.all(others.map((l) => l.acquire()));
  t.is(next.filter(Boolean).length, 1, 'released: another takes it at its next pass');
  const second = others[next.indexOf(true)];

  // The holder dies (no release, no renewal): nobody gets it until the TTL ends, then one does.
  const third = others.find((l) => l !== second)!;
  t.false(await third.acquire());
  await sleep(3500);
  t.true(await third.acquire(), "taken over once the dead holder's lease expired");
  t.false(await second.acquire());
});

test.serial('two order-service replicas: one runs recovery passes, the other leaves them to it; stopping the holder hands over', async (t) => {
  const first = stack.services['order-service']!;
  const second = await startTestService(orderService, { ...stack.env, PORT: '0', BACKEND_URL: stack.url('backend'), CART_SERVICE_URL: stack.url('cart-service'), CHECKOUT_RECOVERY_INTERVAL_MS: String(INTERVAL_MS) });
  extra.push(second);
  await sleep(3 * INTERVAL_MS);
  const leaders = async () => [await metric(first, 'checkout_recovery_leader'), await metric(second, 'checkout_recovery_leader')];
  let seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    seen = await leaders();
    t.deepEqual([...seen].sort(), [0, 1], `one leader at a time (${JSON.stringify(seen)})`);
    await sleep(INTERVAL_MS);
  }
  // Every replica completes its part each interval: the holder's pass, the other's check.
  t.true((await metric(first, 'checkout_recovery_last_success_timestamp_seconds')) > Date.now() / 1000 - 5);
  t.true((await metric(second, 'checkout_recovery_last_success_timestamp_seconds')) > Date.now() / 1000 - 5);

  const [holder, other] = seen[0] === 1 ? [first, second] : [second, first];
  await holder.stop();
  let took = false;
  for (let i = 0; i < 10 && !took; i++) {
    await sleep(INTERVAL_MS);
    took = (await metric(other, 'checkout_recovery_leader')) === 1;
  }
  t.true(took, 'the other replica took the lease after the holder stopped');
});
