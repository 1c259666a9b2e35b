import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import test from 'ava';
import { defaultText, kitSettings, serviceSettings } from '@product-store/deploy';
import { services, variables } from '@product-store/kit';
import { repoRoot } from '../../cassandra/launcher';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

test('the README configuration table lists every variable the kit reads', (t) => {
  for (const variable of variables) t.true(readme.includes(`| \`${variable.name}\` |`), variable.name);
});

/** The README's rows of a table, by their first cell: the variable. */
const rowsOf = (text: string) => new Map([...text.matchAll(/^\| `([A-Z0-9_]+)` \|(.*)\|$/gm)].map((m) => [m[1], m[2].split(' | ').map((cell) => cell.trim())]));
const configuration = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Behaviour worth knowing'));
const [kitTable, ownTable] = configuration.split('Service-specific variables:').map(rowsOf);

test("the README's configuration tables follow the declarations: each setting once, with its default", (t) => {
  t.deepEqual([...kitTable.keys()].sort(), Object.keys(kitSettings).sort(), "the kit's table: the kit's settings (services/kit/src/settings.ts)");
  for (const [name, setting] of Object.entries(kitSettings)) {
    const [shown] = kitTable.get(name) ?? [];
    if (defaultText(setting)) t.true(shown?.startsWith(`\`${defaultText(setting)}\``), `${name}: default ${defaultText(setting)}, the README says ${shown}`);
  }
  const own = Object.entries(serviceSettings).flatMap(([service, settings]) => Object.entries(settings).map(([name, setting]) => ({ service, name, setting })));
  t.deepEqual([...ownTable.keys()].sort(), own.map((s) => s.name).sort(), "the services' table: each service's own settings (services/<service>/src/settings.ts)");
  for (const { service, name, setting } of own) {
    const [shownService, shownDefault] = ownTable.get(name) ?? [];
    t.is(shownService, service, name);
    if (defaultText(setting)) t.true(shownDefault?.startsWith(`\`${defaultText(setting)}\``), `${name}: default ${defaultText(setting)}, the README says ${shownDefault}`);
  }
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

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

test('every relative link in the docs points to a file and heading that exist', (t) => {
  const files = ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), 'charts/README.md', 'compose/README.md', 'deploy/README.md']
    .filter((f) => existsSync(join(repoRoot, f)));
  const anchors = (file: string) => new Set([...readFileSync(join(repoRoot, file), 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1])));
  let links = 0;
  for (const file of files) {
    const text = readFileSync(join(repoRoot, file), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [path, anchor] = target.split('#');
      const resolved = path ? normalize(join(dirname(file), path)) : file;
      t.true(existsSync(join(repoRoot, resolved)), `${file}: ${target} (no such file)`);
      if (anchor && resolved.endsWith('.md')) t.true(anchors(resolved).has(anchor), `${file}: ${target} (no such heading)`);
      links++;
    }
  }
  t.true(links > 20);
});
