/**
 * A load client in its own process (never the server's): `node --import tsx tools/bench/worker.ts '<json spec>'`.
 * Runs one measurement and prints its result as JSON on the last line of stdout.
 */
import { runHttpLoad, type HttpLoadSpec } from './http-load';
import { runCqlLoad, type CqlLoadSpec } from './cql-load';
import { runCheckouts, type CheckoutSpec } from './checkout-load';

export type WorkerSpec = ({ kind: 'http' } & HttpLoadSpec) | ({ kind: 'cql' } & CqlLoadSpec) | ({ kind: 'checkout' } & CheckoutSpec);

async function main() {
  const spec = JSON.parse(process.argv[2]) as WorkerSpec;
  const result = spec.kind === 'http' ? await runHttpLoad(spec) : spec.kind === 'cql' ? await runCqlLoad(spec) : await runCheckouts(spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
