/**
 * The service image's command is the spec's (serviceImageCommand): the Dockerfile cannot import it, so
 * this test holds the two together. tools/deploy/test/engine.test.ts checks the built image too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { serviceImageCommand, serviceNodeFlags } from '@product-store/deploy';

const dockerfile = readFileSync(join(__dirname, '..', '..', 'Dockerfile'), 'utf8');

test("the Dockerfile's CMD is serviceImageCommand, the spec's V8 flags first", (t) => {
  const cmds = dockerfile.split('\n').filter((line) => line.startsWith('CMD '));
  t.is(cmds.length, 1, 'one CMD at the start of a line (the healthcheck\'s is indented)');
  t.deepEqual(JSON.parse(cmds[0].slice('CMD '.length)), [...serviceImageCommand]);
  t.deepEqual(serviceImageCommand.slice(1, 1 + serviceNodeFlags.length), [...serviceNodeFlags]);
});

test('the young generation is sized once: the same minimum and maximum semi-space', (t) => {
  const size = (flag: string) => serviceNodeFlags.find((f) => f.startsWith(`${flag}=`))?.split('=')[1];
  t.truthy(size('--min-semi-space-size'));
  t.is(size('--min-semi-space-size'), size('--max-semi-space-size'));
});
