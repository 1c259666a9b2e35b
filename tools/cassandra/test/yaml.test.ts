import test from 'ava';
import { mergeYaml } from '../launcher';

const base = 'cluster_name: local\nnum_tokens: 1\nseed_provider:\n  - class_name: x\nauto_snapshot: false\n';

test('yaml overrides replace top-level scalars and add new keys', (t) => {
  const merged = mergeYaml(base, { num_tokens: 4, tombstone_failure_threshold: 100, cluster_name: 'tomb stones' });
  t.is(merged, 'cluster_name: "tomb stones"\nnum_tokens: 4\nseed_provider:\n  - class_name: x\nauto_snapshot: false\ntombstone_failure_threshold: 100\n');
  t.is(mergeYaml(base), base, 'no overrides: unchanged');
});

test('yaml overrides refuse blocks and odd key names', (t) => {
  t.throws(() => mergeYaml(base, { seed_provider: 'x' }), { message: /block/ });
  t.throws(() => mergeYaml(base, { 'a: b\nc': 1 }), { message: /top-level key/ });
});
