/**
 * schemathesis against the real services and the real nginx gateway: every service with its own
 * /openapi.json, then the gateway with docs/openapi.json. Every check (`--checks all`: no 5xx, the
 * status, content type, headers and body as documented, invalid input refused, valid input accepted,
 * auth not ignored, deleted resources gone, ...) and every phase, the stateful one (the document's
 * links) included. Requires 0 failures. What counts as accepting a valid request for three
 * operations whose answer depends on state is in `schemathesisConfig` (tools/openapi/schemathesis.ts).
 */
import test from 'ava';
import { services } from '@product-store/deploy';
import { runSchemathesis, schemathesisBin, schemathesisVersion, startApiStack, type ApiStack } from '../schemathesis';
import { operations } from '../document';
import { documentPath } from '../generate';

/** Test cases per operation and phase: the five runs take about a minute and a half on 2 cores. */
const MAX_EXAMPLES = Number(process.env.SCHEMATHESIS_MAX_EXAMPLES ?? 40);
/**
 * A fixed seed, so a run of `npm test` is repeatable and a finding is not a coin toss in CI; set
 * SCHEMATHESIS_SEED to explore other inputs (each run logs the seed it used).
 */
const SEED = Number(process.env.SCHEMATHESIS_SEED ?? 20261206);

let api: ApiStack;
test.before(async () => {
  if (!schemathesisBin()) throw new Error(`schemathesis ${schemathesisVersion} is not installed: bash scripts/install-prerequisites.sh`);
  api = await startApiStack();
});
test.after.always(() => api?.stop());

/** The failures' part of schemathesis' output (the whole of it when there is no such part). */
function failures(output: string): string {
  const start = output.search(/^=+ (FAILURES|ERRORS) =+$/m);
  return start < 0 ? output : output.slice(start);
}

/** What the run says it did: "N generated, N passed", or that it found failures. */
function tally(output: string): string {
  return /^ +(\d+ generated, .*)$/m.exec(output)?.[1] ?? '(no tally)';
}

for (const service of services.map((s) => s.name)) {
  test.serial(`schemathesis: ${service} against its own /openapi.json, every check and phase, no failure`, async (t) => {
    t.timeout(150_000);
    const result = await runSchemathesis({ location: `${api.stack.url(service)}/openapi.json`, userToken: api.userToken, adminToken: api.adminToken, maxExamples: MAX_EXAMPLES, seed: SEED, timeoutMs: 140_000 });
    t.log(`${service}: ${tally(result.output)} (seed ${SEED})`);
    t.is(result.code, 0, failures(result.output));
    t.regex(result.output, /✅ Stateful/, 'the stateful phase ran and passed (it follows the document\'s links)');
  });
}

test.serial('schemathesis: the gateway (nginx) with docs/openapi.json, every check and phase, no failure', async (t) => {
  t.timeout(200_000);
  const result = await runSchemathesis({ location: documentPath, url: api.gateway, userToken: api.userToken, adminToken: api.adminToken, maxExamples: MAX_EXAMPLES, seed: SEED, timeoutMs: 190_000 });
  t.log(`gateway: ${tally(result.output)} (seed ${SEED})`);
  t.is(result.code, 0, failures(result.output));
  t.true(result.output.includes(`Selected: ${operations.length}/${operations.length}`), 'every operation of the document');
  t.regex(result.output, /✅ Stateful/);
});
