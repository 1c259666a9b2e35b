/**
 * Source addresses: the gateway limits each client address, so each virtual customer binds its
 * connections to one address of a loopback range, and a server sees them come from all of them.
 */
import test from 'ava';
import { parseSourceAddresses } from '../addresses';
import { runLoad } from '../generator';
import { startFakeShop } from './fake-shop';

test('a CIDR gives its host addresses; lists and single addresses too; a limit caps a large range', (t) => {
  t.deepEqual(parseSourceAddresses('127.0.1.0/29'), ['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4', '127.0.1.5', '127.0.1.6']);
  t.deepEqual(parseSourceAddresses('127.0.1.7/30'), ['127.0.1.5', '127.0.1.6'], 'the network of the address given');
  t.deepEqual(parseSourceAddresses('127.0.2.9/32'), ['127.0.2.9']);
  t.deepEqual(parseSourceAddresses('127.0.3.0/31'), ['127.0.3.0', '127.0.3.1']);
  t.deepEqual(parseSourceAddresses('127.0.1.1, 127.0.1.2,127.0.1.1'), ['127.0.1.1', '127.0.1.2']);
  t.deepEqual(parseSourceAddresses(['127.0.4.0/30', '::1']), ['127.0.4.1', '127.0.4.2', '::1']);
  t.is(parseSourceAddresses('127.0.0.0/8', 1000).length, 1000);
  t.is(parseSourceAddresses('127.0.0.0/8', 1000)[999], '127.0.3.232');
  for (const bad of ['127.0.1.0/33', '127.0.1.0/4', '127.0.1/24', 'localhost', '300.0.0.1/24']) t.throws(() => parseSourceAddresses(bad), undefined, bad);
});

test('each customer binds to one address: a local server sees the requests come from every one of them', async (t) => {
  const shop = await startFakeShop();
  try {
    const summary = await runLoad({ url: shop.url, rate: 40, durationMs: 1000, customers: 6, sourceAddresses: '127.0.7.0/29', mix: { browse: 1, view: 1 }, recordLimit: 100 });
    const expected = ['127.0.7.1', '127.0.7.2', '127.0.7.3', '127.0.7.4', '127.0.7.5', '127.0.7.6'];
    t.deepEqual(summary.sourceAddresses, expected);
    const seen = new Set(shop.seen.map((s) => s.address.replace(/^::ffff:/, '')));
    t.deepEqual([...seen].sort(), expected);
    // Every request of a customer from its own address.
    const byAddress = new Map<string, number>();
    for (const s of shop.seen) byAddress.set(s.address, (byAddress.get(s.address) ?? 0) + 1);
    for (const [address, n] of byAddress) t.true(n >= 3, `${address}: ${n} requests`);
    for (const r of summary.records!) t.is(r.sourceAddress, expected[r.customer % expected.length]);
    t.is(summary.perAddressRate, 6.67);
  } finally {
    await shop.close();
  }
});

test('more customers than addresses share them round the range; fewer use only as many', async (t) => {
  const shop = await startFakeShop();
  try {
    const summary = await runLoad({ url: shop.url, rate: 20, durationMs: 500, customers: 3, sourceAddresses: '127.0.8.0/24', mix: { browse: 1 } });
    t.deepEqual(summary.sourceAddresses, ['127.0.8.1', '127.0.8.2', '127.0.8.3']);
    t.deepEqual(summary.customers.map((c) => c.sourceAddress), ['127.0.8.1', '127.0.8.2', '127.0.8.3']);
    const shared = await runLoad({ url: shop.url, rate: 20, durationMs: 500, customers: 5, sourceAddresses: '127.0.8.1,127.0.8.2', mix: { browse: 1 } });
    t.deepEqual(shared.customers.map((c) => c.sourceAddress), ['127.0.8.1', '127.0.8.2', '127.0.8.1', '127.0.8.2', '127.0.8.1']);
    t.is(shared.perAddressRate, 12);
  } finally {
    await shop.close();
  }
});

test('an address that is not on this machine is refused before the run, with the reason', async (t) => {
  // 192.0.2.0/24 is TEST-NET-1: never assigned to an interface.
  await t.throwsAsync(runLoad({ url: 'http://127.0.0.1:9', rate: 1, durationMs: 1000, sourceAddresses: '192.0.2.10/32', mix: { browse: 1 } }), { message: /192\.0\.2\.10 cannot be used here \(EADDRNOTAVAIL\)/ });
});

test('one address above the gateway limit is warned about', async (t) => {
  const shop = await startFakeShop();
  try {
    const lines: string[] = [];
    const summary = await runLoad({ url: shop.url, rate: 60, durationMs: 200, customers: 4, mix: { browse: 1 }, log: (l) => lines.push(l) });
    t.is(summary.perAddressRate, 60);
    t.true(lines.some((l) => /about 60 requests\/s from one source address, above the gateway's 50\/s per address/.test(l)), lines.join('\n'));
  } finally {
    await shop.close();
  }
});
