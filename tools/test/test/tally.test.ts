import test from 'ava';
import { tally } from '../tally';

test('a run with a failure still counts its passes', (t) => {
  const output = ['  ✔ one (12ms)', '  ✔ two', '  ✘ [fail]: three Rejected promise', '  ─', '', '  1 test failed'].join('\n');
  t.deepEqual(tally(output), { passed: 2, failed: 1 });
});

test('a clean run, several projects: the passes add up', (t) => {
  const output = ['  ✔ a', '  ─', '', '  1 test passed', '  ✔ b', '  ✔ c', '  ─', '', '  2 tests passed'].join('\n');
  t.deepEqual(tally(output), { passed: 3, failed: 0 });
});

test('failed hooks, uncaught exceptions and timeouts count as failures', (t) => {
  t.deepEqual(tally('  ✔ a\n  ✘ [fail]: before hook\n  1 hook failed\n  2 uncaught exceptions\n'), { passed: 1, failed: 3 });
  t.deepEqual(tally('\u001b[32m  ✔ a\u001b[39m\n  ✘ Timed out while running tests\n  1 test timed out\n'), { passed: 1, failed: 1 });
});

test('lines prefixed with the project name, as nx streams them', (t) => {
  t.deepEqual(tally('kit:   ✔ a\nkit:   ✘ [fail]: b\nkit:   1 test failed\nbackend:   ✔ c\nbackend:   1 test passed\n'), { passed: 2, failed: 1 });
});
