import test from 'ava';
import { cassandraOrigin, closingLines, tally } from '../tally';

test('a run with a failure still counts its passes', (t) => {
  const output = ['  ✔ one (12ms)', '  ✔ two', '  ✘ [fail]: three Rejected promise', '  ─', '', '  1 test failed'].join('\n');
  t.like(tally(output), { passed: 2, failed: 1 });
});

test('a clean run, several projects: the passes add up', (t) => {
  const output = ['  ✔ a', '  ─', '', '  1 test passed', '  ✔ b', '  ✔ c', '  ─', '', '  2 tests passed'].join('\n');
  t.like(tally(output), { passed: 3, failed: 0 });
});

test('failed hooks, uncaught exceptions and timeouts count as failures', (t) => {
  t.like(tally('  ✔ a\n  ✘ [fail]: before hook\n  1 hook failed\n  2 uncaught exceptions\n'), { passed: 1, failed: 3 });
  t.like(tally('\u001b[32m  ✔ a\u001b[39m\n  ✘ Timed out while running tests\n  1 test timed out\n'), { passed: 1, failed: 1 });
});

test('lines prefixed with the project name, as nx streams them', (t) => {
  t.like(tally('kit:   ✔ a\nkit:   ✘ [fail]: b\nkit:   1 test failed\nbackend:   ✔ c\nbackend:   1 test passed\n'), { passed: 2, failed: 1 });
});

test("a failing project's passes count beside the other projects' summaries", (t) => {
  // A clean project whose summary says more than the `✔` lines kept of it (cut by other output),
  // then a project with a failure: its passes are only in its `✔` lines.
  const output = [
    '> nx run kit:test',
    '',
    'kit:   ✔ a',
    'kit:   3 tests passed',
    '> nx run order-service:test',
    '',
    'order-service:   ✔ b',
    'order-service:   ✔ c',
    'order-service:   ✘ [fail]: d Rejected promise',
    'order-service:   1 test failed',
  ].join('\n');
  t.like(tally(output), { passed: 5, failed: 1 });
});

test('lines with cursor control and carriage returns still count', (t) => {
  const output = ['kit:   \u001b[2K\u001b[1G✔ a\r', 'kit:   \u001b[32m✔\u001b[39m b\r', 'kit:   ✘ [fail]: c\r', 'kit:   1 test failed\r'].join('\n');
  t.like(tally(output), { passed: 2, failed: 1 });
});

test('only a Cassandra the run started itself reports a start-up time', (t) => {
  t.is(cassandraOrigin({ host: '127.0.0.1', origin: 'started', startMs: 6800 }), 'started in 6.8 s');
  t.notRegex(cassandraOrigin({ host: '127.0.0.1', origin: 'adopted', startMs: 100 }), /started in/);
  t.notRegex(cassandraOrigin({ host: '127.0.0.1', origin: 'shared', startMs: 100 }), /started in/);
  t.regex(cassandraOrigin({ host: '10.0.0.5', origin: 'external', startMs: 100 }), /CASSANDRA_HOST/);
});

test('the closing lines name every failed test with its project, before the count', (t) => {
  const output = [
    '> nx run gateway:test',
    'gateway:   ✔ a',
    'gateway:   ✘ [fail]: drain › replicas stopped and started in turn Rejected promise',
    'gateway:   1 test failed',
    '> nx run kit:test',
    'kit:   ✘ [fail]: app › b',
    'kit:   1 test failed',
  ].join('\n');
  const result = tally(output);
  t.deepEqual(result.failures, ['gateway: [fail]: drain › replicas stopped and started in turn Rejected promise', 'kit: [fail]: app › b']);
  const lines = closingLines(result, 0).trimEnd().split('\n');
  t.deepEqual(lines, ['failed: gateway: [fail]: drain › replicas stopped and started in turn Rejected promise', 'failed: kit: [fail]: app › b', '1 passed, 2 failed']);
  t.is(closingLines(tally('  ✔ a\n  1 test passed\n'), 0), '1 passed, 0 failed\n');
});

test("the closing lines say why each test failed, from ava's details: the error, or the assertion's message", (t) => {
  // ava's output for a failing before hook and a failing assertion (stack frames shortened).
  const output = [
    '  ✘ [fail]: x › before hook Rejected promise returned by test',
    '  ✘ 1 test remaining in x.test.ts',
    '  ✘ [fail]: y › b fails one is not two',
    '  ✔ y › c passes',
    '  ─',
    '',
    '  x › before hook',
    '',
    '  Rejected promise returned by test. Reason:',
    '',
    '  Error {',
    "    message: `backend exited during start-up; its last lines:␊",
    '      {"msg":"listen EADDRINUSE"}`,',
    '  }',
    '',
    '  Error: backend exited during start-up; its last lines:',
    '    {"msg":"listen EADDRINUSE"}',
    '      at <anonymous> (/tmp/x.test.ts:2:33)',
    '      at Test.callFn (file:///node_modules/ava/lib/test.js:525:26)',
    '',
    '',
    '',
    '  y › b fails',
    '',
    '  y.test.ts:2',
    '',
    "   1: import test from 'ava';",
    "   2: test('b fails', (t) => { t.is(1, 2, 'one is not two'); });",
    '',
    '  one is not two',
    '',
    '  Difference (- actual, + expected):',
    '',
    '  - 1',
    '  + 2',
    '',
    '  › <anonymous> (y.test.ts:2:28)',
    '',
    '  ─',
    '',
    '  1 hook failed',
    '  1 test failed',
  ].map((l) => `tools: ${l}`).join('\n');
  t.deepEqual(closingLines(tally(output), 0).trimEnd().split('\n'), [
    'failed: tools: [fail]: x › before hook Rejected promise returned by test',
    'failed:     Error: backend exited during start-up; its last lines:',
    'failed:     {"msg":"listen EADDRINUSE"}',
    'failed: tools: 1 test remaining in x.test.ts',
    'failed: tools: [fail]: y › b fails one is not two',
    'failed:     one is not two',
    'failed:     Difference (- actual, + expected):',
    'failed:     - 1',
    'failed:     + 2',
    '1 passed, 3 failed',
  ]);
});
