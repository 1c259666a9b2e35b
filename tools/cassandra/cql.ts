/**
 * `tools/cassandra/cql -e "STATEMENT"` or `-f FILE`: the few cqlsh uses the operator scripts need
 * (run statements, print DESCRIBE output as CQL), for a machine without cqlsh. Connects to
 * CASSANDRA_HOST:CASSANDRA_PORT, with CASSANDRA_USERNAME/CASSANDRA_PASSWORD when a password is set.
 */
import { readFileSync } from 'node:fs';
import { auth, Client } from 'cassandra-driver';

function statementsOf(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => !/^\s*(--|\/\/)/.test(line))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

async function main(): Promise<number> {
  const [flag, argument] = process.argv.slice(2);
  if (!['-e', '-f'].includes(flag ?? '') || !argument) {
    process.stderr.write('usage: cql -e "STATEMENT" | cql -f FILE\n');
    return 2;
  }
  const statements = statementsOf(flag === '-e' ? argument : readFileSync(argument, 'utf8'));
  const password = process.env.CASSANDRA_PASSWORD;
  const client = new Client({
    contactPoints: (process.env.CASSANDRA_HOST || '127.0.0.1').split(','),
    protocolOptions: { port: Number(process.env.CASSANDRA_PORT || 9042) },
    localDataCenter: process.env.CASSANDRA_DATACENTER || 'datacenter1',
    ...(password ? { authProvider: new auth.PlainTextAuthProvider(process.env.CASSANDRA_USERNAME || 'cassandra', password) } : {}),
    socketOptions: { readTimeout: 60_000 },
  });
  try {
    await client.connect();
    for (const statement of statements) {
      const rs = await client.execute(statement);
      for (const row of rs.rows ?? []) {
        const create = row.get('create_statement');
        process.stdout.write(typeof create === 'string' ? `${create}\n\n` : `${JSON.stringify(row)}\n`);
      }
    }
    return 0;
  } catch (err) {
    process.stderr.write(`cql: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await client.shutdown();
  }
}

main().then((code) => process.exit(code));
