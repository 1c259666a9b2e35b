import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { repoRoot } from '../../cassandra/launcher';
import { artifacts } from '../../generate';

test('every generated file is what its source renders (run `npm run generate`)', (t) => {
  for (const artifact of artifacts) t.is(readFileSync(join(repoRoot, artifact.path), 'utf8'), artifact.render(), artifact.path);
});
