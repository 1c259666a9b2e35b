/** Cassandra: the one database, through the JMX exporter agent (monitoring/cassandra/jmx-exporter.yaml). */
import { dashboard, gauge, limitLine, q, row, stat, timeseries, upDownMapping, type PanelSpec } from '../builder';
import { job, maxBy, orZero, perMinute, rate, sel, sumBy } from '../promql';

const j = job('cassandra');
const c = (metric: string, ...matchers: string[]) => sel(metric, j, ...matchers);
/** Lightweight transactions: conditional writes and SERIAL reads. */
const CAS = 'operation=~"CASRead|CASWrite"';

/** Shared with the System Overview's Cassandra row. */
export const cassandraPanels = {
  up: (): PanelSpec =>
    stat({
      title: 'Cassandra up',
      description: 'Whether Prometheus scrapes the JMX exporter agent in every Cassandra node.',
      unit: 'short',
      queries: [q(`min(up{${j}})`)],
      mappings: upDownMapping,
    }),
  requests: (): PanelSpec =>
    stat({
      title: 'Cassandra requests',
      description: 'Client requests per second served as coordinator, all operations.',
      unit: 'reqps',
      queries: [q(sumBy([], rate(c('cassandra_client_requests_total'))))],
    }),
  p99: (operation: 'Read' | 'Write'): PanelSpec =>
    stat({
      title: `Cassandra ${operation.toLowerCase()} p99`,
      description: `99th percentile ${operation.toLowerCase()} latency as coordinator (the slowest node).`,
      unit: 's',
      queries: [q(maxBy([], c('cassandra_client_request_latency_seconds', `operation="${operation}"`, 'quantile="0.99"')))],
      thresholds: [
        { color: 'orange', value: 0.05 },
        { color: 'red', value: 0.25 },
      ],
    }),
  errors: (): PanelSpec =>
    stat({
      title: 'Cassandra errors',
      description: 'Client request timeouts, unavailables and failures per second.',
      unit: 'reqps',
      decimals: 2,
      queries: [q(orZero(sumBy([], rate(c('cassandra_client_request_errors_total')))))],
      thresholds: [{ color: 'red', value: 0.001 }],
    }),
  pendingCompactions: (): PanelSpec =>
    stat({
      title: 'Pending compactions',
      description: 'Compaction tasks waiting: a steady rise means compaction cannot keep up with writes.',
      unit: 'short',
      queries: [q(sumBy([], c('cassandra_compaction_pending_tasks')))],
      thresholds: [
        { color: 'orange', value: 20 },
        { color: 'red', value: 100 },
      ],
    }),
};

export const cassandraDashboard = dashboard({
  uid: 'cassandra',
  title: 'Cassandra',
  description: 'Apache Cassandra through the JMX exporter: client requests, latency, errors, lightweight transactions, tombstones, storage, compaction, JVM.',
  sections: [
    row('Summary', [
      cassandraPanels.up(),
      stat({
        title: 'Connected native clients',
        description: 'CQL (native protocol) connections: the services hold a small pool each.',
        unit: 'short',
        queries: [q(sumBy([], c('cassandra_connected_native_clients')))],
      }),
      stat({
        title: 'Storage load',
        description: 'On-disk size of the data this node owns (all nodes summed).',
        unit: 'bytes',
        queries: [q(sumBy([], c('cassandra_storage_load_bytes')))],
      }),
      cassandraPanels.pendingCompactions(),
      gauge({
        title: 'JVM heap used',
        description: 'Heap in use as a share of the maximum heap (the fullest node).',
        unit: 'percentunit',
        max: 1,
        queries: [q(`max(${c('jvm_memory_used_bytes', 'area="heap"')} / ${c('jvm_memory_max_bytes', 'area="heap"')})`)],
        thresholds: [
          { color: 'orange', value: 0.75 },
          { color: 'red', value: 0.9 },
        ],
      }),
      stat({
        title: 'Storage exceptions in range',
        description: 'Internal storage exceptions over the selected time range: anything above 0 deserves a look at the logs.',
        unit: 'short',
        decimals: 0,
        queries: [q(orZero(sumBy([], `increase(${c('cassandra_storage_exceptions_total')}[$__range])`)))],
        thresholds: [{ color: 'red', value: 1 }],
      }),
    ]),
    row('Client requests', [
      timeseries({
        title: 'Requests by operation',
        description: 'Client requests per second as coordinator, by operation (Read, Write, CASRead, CASWrite, RangeSlice).',
        unit: 'reqps',
        queries: [q(sumBy(['operation'], rate(c('cassandra_client_requests_total'))), '{{operation}}')],
      }),
      timeseries({
        title: 'Latency p50 / p99 by operation',
        description: 'Coordinator latency quantiles by operation, as Cassandra reports them (recent decaying window); the slowest node.',
        unit: 's',
        queries: [
          q(maxBy(['operation'], c('cassandra_client_request_latency_seconds', 'quantile="0.50"')), 'p50 {{operation}}'),
          q(maxBy(['operation'], c('cassandra_client_request_latency_seconds', 'quantile="0.99"')), 'p99 {{operation}}'),
        ],
      }),
      timeseries({
        title: 'Errors by kind',
        description: 'Client request errors per second by kind (Timeouts, Unavailables, Failures).',
        unit: 'reqps',
        stack: true,
        queries: [q(orZero(sumBy(['error'], rate(c('cassandra_client_request_errors_total')))), '{{error}}')],
      }),
      timeseries({
        title: 'Dropped messages by type',
        description: 'Internal messages dropped per second because they waited past their timeout, by message type.',
        unit: 'short',
        stack: true,
        queries: [q(orZero(sumBy(['message_type'], rate(c('cassandra_dropped_messages_total')))), '{{message_type}}')],
      }),
    ]),
    row('Lightweight transactions (Paxos)', [
      timeseries({
        title: 'CAS latency p50 / p99',
        description:
          'Coordinator latency of lightweight transactions: CASWrite (INSERT ... IF NOT EXISTS, UPDATE ... IF) and CASRead (SERIAL reads), from Cassandra\'s recent decaying window; the slowest node. Each costs several round trips (Paxos prepare, propose, commit).',
        unit: 's',
        queries: [
          q(maxBy(['operation'], c('cassandra_client_request_latency_seconds', CAS, 'quantile="0.50"')), 'p50 {{operation}}'),
          q(maxBy(['operation'], c('cassandra_client_request_latency_seconds', CAS, 'quantile="0.99"')), 'p99 {{operation}}'),
        ],
      }),
      timeseries({
        title: 'CAS requests contended',
        description:
          'Share of lightweight transactions that lost at least one Paxos round to a concurrent one on the same partition and had to retry. Above 10% for 10 minutes: CassandraLWTContention.',
        unit: 'percentunit',
        max: 1,
        queries: [
          q(
            `${sumBy(['operation'], rate(c('cassandra_client_request_cas_contended_total')))} / ${sumBy(['operation'], rate(c('cassandra_client_requests_total', CAS)))}`,
            '{{operation}}',
          ),
        ],
        thresholds: [{ color: 'red', value: 0.1 }],
      }),
      timeseries({
        title: 'CAS contention p50 / p99',
        description: 'Paxos rounds a contended lightweight transaction retried, as Cassandra\'s recent decaying window reports them; the worst node. Uncontended requests are not counted.',
        unit: 'short',
        queries: [
          q(maxBy(['operation'], c('cassandra_client_request_cas_contention', 'quantile="0.50"')), 'p50 {{operation}}'),
          q(maxBy(['operation'], c('cassandra_client_request_cas_contention', 'quantile="0.99"')), 'p99 {{operation}}'),
        ],
      }),
      timeseries({
        title: 'CAS timeouts, unknown results and unfinished commits',
        description:
          'Per second: lightweight transactions that timed out or were unavailable; those whose outcome the coordinator could not know (timed out after proposing); and Paxos rounds a request found unfinished and completed first (a sign of earlier timeouts or contention).',
        unit: 'reqps',
        queries: [
          q(orZero(sumBy(['operation', 'error'], rate(c('cassandra_client_request_errors_total', CAS, 'error=~"Timeouts|Unavailables"')))), '{{error}} {{operation}}'),
          q(sumBy(['operation'], rate(c('cassandra_client_request_cas_unknown_results_total'))), 'unknown result {{operation}}'),
          q(sumBy(['operation'], rate(c('cassandra_client_request_cas_unfinished_commits_total'))), 'unfinished commit {{operation}}'),
        ],
      }),
    ]),
    row('Tombstones', [
      timeseries({
        title: 'Tombstones scanned per read p99 by table',
        description:
          'Tombstones (deleted or expired data) one read of the table scanned: 99th percentile of Cassandra\'s recent decaying window, for the application\'s keyspaces; the worst node. Reads warn above tombstone_warn_threshold (1000, the red line) and fail above tombstone_failure_threshold (100000).',
        unit: 'short',
        w: 8,
        queries: [q(maxBy(['keyspace', 'table'], c('cassandra_table_tombstones_scanned', 'quantile="0.99"')), '{{keyspace}}.{{table}}')],
        thresholds: [{ color: 'red', value: 1000 }],
      }),
      timeseries({
        title: 'Most tombstones scanned by one read, by table',
        description: 'The largest number of tombstones a single read of the table scanned in Cassandra\'s recent decaying window; the worst node.',
        unit: 'short',
        w: 8,
        queries: [q(maxBy(['keyspace', 'table'], c('cassandra_table_tombstones_scanned_max')), '{{keyspace}}.{{table}}')],
        thresholds: [{ color: 'red', value: 1000 }],
      }),
      timeseries({
        title: 'Tombstone warnings and failures per minute by table',
        description:
          'Reads per minute that scanned more than tombstone_warn_threshold (warned) or tombstone_failure_threshold (refused: the query failed), by table; only tables that had any. 0 when none.',
        unit: 'short',
        w: 8,
        queries: [
          q(orZero(`${perMinute(sumBy(['keyspace', 'table'], rate(c('cassandra_table_tombstone_warnings_total'))))} > 0`), 'warned {{keyspace}}.{{table}}'),
          q(orZero(`${perMinute(sumBy(['keyspace', 'table'], rate(c('cassandra_table_tombstone_failures_total'))))} > 0`), 'refused {{keyspace}}.{{table}}'),
        ],
      }),
    ]),
    row('Storage', [
      timeseries({
        title: 'Storage load by node',
        description: 'On-disk size of the data each node owns.',
        unit: 'bytes',
        w: 8,
        queries: [q(sumBy(['instance'], c('cassandra_storage_load_bytes')), '{{instance}}')],
      }),
      timeseries({
        title: 'Pending compactions by node',
        description: 'Compaction tasks waiting, per node.',
        unit: 'short',
        w: 8,
        queries: [q(sumBy(['instance'], c('cassandra_compaction_pending_tasks')), '{{instance}}')],
      }),
      timeseries({
        title: 'Connected native clients by node',
        description: 'CQL connections per node.',
        unit: 'short',
        w: 8,
        queries: [q(sumBy(['instance'], c('cassandra_connected_native_clients')), '{{instance}}')],
      }),
    ]),
    row('JVM and process', [
      timeseries({
        title: 'JVM heap used vs max',
        description: 'Heap in use and the maximum heap, per node.',
        unit: 'bytes',
        w: 8,
        queries: [
          q(sumBy(['instance'], c('jvm_memory_used_bytes', 'area="heap"')), 'used {{instance}}'),
          q(sumBy(['instance'], c('jvm_memory_max_bytes', 'area="heap"')), 'max {{instance}}'),
        ],
        overrides: [limitLine('B')],
      }),
      timeseries({
        title: 'GC time by collector',
        description: 'Share of wall time spent in garbage collection, by collector.',
        unit: 'percentunit',
        w: 8,
        queries: [q(orZero(sumBy(['gc'], rate(c('jvm_gc_collection_seconds_sum')))), '{{gc}}')],
      }),
      timeseries({
        title: 'GC collections per second',
        description: 'Garbage collections per second, by collector.',
        unit: 'short',
        w: 8,
        queries: [q(orZero(sumBy(['gc'], rate(c('jvm_gc_collection_seconds_count')))), '{{gc}}')],
      }),
      timeseries({
        title: 'Process CPU',
        description: 'CPU time per second of the Cassandra JVM; 100% is one full core.',
        unit: 'percentunit',
        w: 8,
        queries: [q(sumBy(['instance'], rate(c('process_cpu_seconds_total'))), '{{instance}}')],
      }),
      timeseries({
        title: 'Resident memory',
        description: 'Resident set size of the Cassandra process (heap, off-heap and native memory).',
        unit: 'bytes',
        w: 8,
        queries: [q(sumBy(['instance'], c('process_resident_memory_bytes')), '{{instance}}')],
      }),
      timeseries({
        title: 'JVM threads',
        description: 'Live JVM threads per node.',
        unit: 'short',
        w: 8,
        queries: [q(sumBy(['instance'], c('jvm_threads_current')), '{{instance}}')],
      }),
    ]),
  ],
});
