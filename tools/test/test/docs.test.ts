import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import test from 'ava';
import { services, variables } from '@product-store/kit';
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
