/**
 * The local stack's processes: ports that no outgoing connection can be holding, and start-up
 * failures that carry their process's last output (a test's sink may keep the output to itself).
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freePort, startProcess, waitForHttp } from '../processes';

test('freePort: ports below the ephemeral range, never the same one twice, each reserved for this process', async (t) => {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  t.true(low > 25_000, `this machine's ephemeral range starts at ${low}, leaving room below it`);
  const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
  t.is(new Set(ports).size, ports.length);
  for (const port of ports) {
    t.true(port < low, `${port} is below the ephemeral range (from ${low})`);
    t.is(readFileSync(join(tmpdir(), 'product-store-ports', String(port)), 'utf8'), String(process.pid));
  }
});

test('waitForHttp: a process that exits during start-up fails with its last lines', async (t) => {
  const port = await freePort();
  const script = "for (let i = 1; i <= 20; i++) console.log('line ' + i); console.error('listen EADDRINUSE: address already in use'); process.exit(1);";
  const sunk: string[] = [];
  const proc = startProcess('svc', process.execPath, ['-e', script], { sink: (_n, l) => sunk.push(l) });
  const err = await t.throwsAsync(waitForHttp(proc, `http://127.0.0.1:${port}/ready`, 10_000));
  t.regex(err!.message, /^svc exited during start-up; its last lines:\n/);
  t.regex(err!.message, /listen EADDRINUSE/);
  t.regex(err!.message, /line 20/);
  t.notRegex(err!.message, /line 8\n/, 'only the last lines');
  t.is(sunk.length, 21, 'the sink still gets every line');
});

test('waitForHttp: a process that never answers fails after the timeout with its last lines', async (t) => {
  const port = await freePort();
  const proc = startProcess('quiet', process.execPath, ['-e', "console.log('connecting to Cassandra'); setInterval(() => {}, 1000)"], { sink: () => undefined });
  t.teardown(() => proc.stop());
  const err = await t.throwsAsync(waitForHttp(proc, `http://127.0.0.1:${port}/ready`, 1500));
  t.regex(err!.message, /^quiet did not answer .* within 1.5 s; its last lines:\n {2}connecting to Cassandra$/);
});
