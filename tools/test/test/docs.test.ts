import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { services, variables } from '../../../services/kit/src';
import { repoRoot } from '../../cassandra/launcher';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

test('the README configuration table lists every variable the kit reads', (t) => {
  for (const variable of variables) t.true(readme.includes(`| \`${variable.name}\` |`), variable.name);
});

test('the README names every service with its port', (t) => {
  for (const service of services) t.true(readme.includes(`${service.port} \`${service.name}\``), service.name);
});

test('docs/api.md is the shared contract, unchanged', (t) => {
  const shared = join(repoRoot, '..', 'shared', 'contract', 'api.md');
  if (!existsSync(shared)) {
    t.pass('no shared/ beside this checkout');
    return;
  }
  t.is(readFileSync(join(repoRoot, 'docs', 'api.md'), 'utf8'), readFileSync(shared, 'utf8'));
});
