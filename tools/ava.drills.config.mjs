// The drills of `npm test` (tools' test target runs them after its other tests): each starts a whole
// stack, a Cassandra cluster or both and puts load on it, so they run one file at a time, alone on the
// machine; beside one another (or beside the other test files) a 2-core host is saturated and what
// they measure (no failed request through restarts and node loss) is the machine's, not the shop's.
import base from '../ava.config.mjs';

export const drills = ['tools/load/test/soak.test.ts', 'tools/load/test/cluster.test.ts', 'tools/cassandra/test/scaling.test.ts'];

export default {
  ...base,
  files: drills,
  concurrency: 1,
  timeout: '15m',
};
