/**
 * Cassandra's commit log sync, the durability of acknowledged writes: one choice for the local
 * launcher, compose and the cluster, whose defaults are the deployment spec's (deploy/src/components.ts);
 * images/cassandra/set-durability.sh applies the same variables inside the image.
 *
 *  - `group` (the default): a write is acknowledged once the commit log segment holding it is on disk;
 *    fsyncs are grouped, at most one per CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW. Costs up to a window of
 *    latency per write; a host crash loses no acknowledged write.
 *  - `batch`: the same guarantee, fsync as soon as writes are waiting (no window): lowest latency at
 *    low load, the most fsyncs.
 *  - `periodic` (Cassandra's own default): acknowledged at once, fsync every
 *    CASSANDRA_COMMITLOG_SYNC_PERIOD; a crash of a single node loses up to that period of
 *    acknowledged writes (replicas on other hosts, replication factor 3, are what makes it safe).
 *
 * Cassandra 5.0 keys: `commitlog_sync`, `commitlog_sync_group_window`, `commitlog_sync_period`. Each mode
 * takes only its own key: 5.0 refuses `commitlog_sync_period` beside `group` or `batch`.
 */
import { component } from '@product-store/deploy';

export type CommitlogSync = 'group' | 'batch' | 'periodic';
const modes: readonly CommitlogSync[] = ['group', 'batch', 'periodic'];

/** The spec's default of one of the Cassandra component's settings. */
function specDefault(name: string): string {
  const source = component('cassandra').env[name];
  if (!source || !('config' in source)) throw new Error(`the deployment spec has no setting ${name} for Cassandra`);
  return source.default;
}

export interface Durability {
  mode: CommitlogSync;
  /** The cassandra.yaml settings of that mode. */
  yaml: Record<string, string>;
  /** One line for people: the mode and its window or period. */
  describe: string;
}

/** The commit log settings from CASSANDRA_COMMITLOG_SYNC (and its window or period), else the spec's defaults. */
export function durabilityFrom(env: Readonly<Record<string, string | undefined>> = process.env): Durability {
  const value = (name: string) => env[name]?.trim() || specDefault(name);
  const mode = value('CASSANDRA_COMMITLOG_SYNC') as CommitlogSync;
  if (!modes.includes(mode)) throw new Error(`CASSANDRA_COMMITLOG_SYNC must be one of ${modes.join(', ')} (got "${mode}")`);
  const duration = (name: string) => {
    const d = value(name);
    if (!/^[1-9][0-9]*(ms|s)$/.test(d)) throw new Error(`${name} must be a duration such as 10ms or 10s (got "${d}")`);
    return d;
  };
  const yaml: Record<string, string> = { commitlog_sync: mode };
  if (mode === 'group') yaml.commitlog_sync_group_window = duration('CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW');
  if (mode === 'periodic') yaml.commitlog_sync_period = duration('CASSANDRA_COMMITLOG_SYNC_PERIOD');
  return { mode, yaml, describe: describeSync(yaml) };
}

/** A mode and its window or period (cassandra.yaml's keys), for people. */
function describeSync(settings: Record<string, string | undefined>): string {
  switch (settings.commitlog_sync) {
    case 'group':
      return `group (fsync before the acknowledgement, grouped every ${settings.commitlog_sync_group_window})`;
    case 'batch':
      return 'batch (fsync before the acknowledgement)';
    case 'periodic':
      return `periodic (acknowledged before the fsync, every ${settings.commitlog_sync_period}: a crash may lose that much)`;
    default:
      return settings.commitlog_sync ?? 'unknown';
  }
}

/** The commit log sync a running node reports (system_views.settings), as `describe` says it. */
export async function nodeDurability(client: { execute(query: string): Promise<{ rows: Array<{ get(name: string): unknown }> }> }): Promise<string> {
  const rs = await client.execute(
    "SELECT name, value FROM system_views.settings WHERE name IN ('commitlog_sync', 'commitlog_sync_group_window', 'commitlog_sync_period')",
  );
  return describeSync(Object.fromEntries(rs.rows.map((r) => [String(r.get('name')), String(r.get('value'))])));
}
