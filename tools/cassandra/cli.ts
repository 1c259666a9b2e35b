/** `npm run cassandra`: runs the project's Cassandra in the foreground until Ctrl-C or SIGTERM. */
import { ensureCassandra } from './launcher';

async function main(): Promise<void> {
  const cassandra = await ensureCassandra();
  process.stderr.write(`[cassandra] ready on ${cassandra.host}:${cassandra.port}; Ctrl-C stops it\n`);
  const shutdown = async () => {
    await cassandra.stop();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err) => {
  process.stderr.write(`[cassandra] ${(err as Error).message}\n`);
  process.exit(1);
});
