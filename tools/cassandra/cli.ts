/**
 * `npm run cassandra`: runs the project's Cassandra in the foreground until Ctrl-C or SIGTERM.
 * `npm run cassandra -- --nodes 3` (or CASSANDRA_NODES=3): a three-node cluster on 127.0.0.1-3.
 */
import { onStopSignals } from '../stack/signals';
import { ensureCassandra, type CassandraCluster, type CassandraHandle } from './launcher';

const say = (line: string) => process.stderr.write(`[cassandra] ${line}\n`);

/** `--nodes N` (or `--nodes=N`); else CASSANDRA_NODES, else one node. */
function nodesArgument(argv: string[]): number | undefined {
  const i = argv.findIndex((a) => a === '--nodes' || a.startsWith('--nodes='));
  if (i < 0) return undefined;
  const value = argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  const nodes = Number(value);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new Error(`--nodes takes a number of nodes from 1 to 9 (got "${value}")`);
  return nodes;
}

async function main(): Promise<void> {
  let stopRequested = false;
  let cassandra: CassandraHandle | undefined;
  const shutdown = async () => {
    say('stopping');
    await cassandra?.stop();
    say('stopped');
    process.exit(0);
  };
  // From the start: a Ctrl-C during start-up stops the node once it is up (it runs in a process group
  // of its own, so the terminal's signal does not reach it).
  onStopSignals(
    () => {
      stopRequested = true;
      if (cassandra) void shutdown();
      else say('stopping once start-up ends');
    },
    { say, leftBehind: () => (cassandra?.owned ? `Cassandra on ${cassandra.host}:${cassandra.port}` : '') },
  );
  cassandra = await ensureCassandra({ nodes: nodesArgument(process.argv.slice(2)) });
  if (stopRequested) return shutdown();
  say(`ready on ${cassandra.contactPoints} port ${cassandra.port}; Ctrl-C stops it`);
  if ('nodes' in cassandra) {
    for (const n of (cassandra as CassandraCluster).nodes) say(`  node${n.index} ${n.address}: JMX (nodetool) 127.0.0.1:${n.jmxPort}, metrics ${n.address}:${n.metricsPort}, data ${n.dataDir}`);
    say('  nodetool of node N: CASSANDRA_JMX_PORT=<its JMX port> tools/cassandra/nodetool status');
  }
  // In the foreground until a signal, also with a node adopted from an earlier run (no child process
  // of ours keeps this one alive then).
  setInterval(() => undefined, 2 ** 30);
}

main().catch((err) => {
  say((err as Error).message);
  process.exit(1);
});
