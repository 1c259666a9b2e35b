/**
 * backend's own settings (src/settings.ts): refused at start-up with the message they always had, and
 * handed to the service typed.
 */
import test from 'ava';
import { ConfigError, startService } from '@product-store/kit';
import { testEnv } from '@product-store/kit/testing';
import { backend } from '../src/service';

test('a stock deadline out of range refuses the start, named', async (t) => {
  for (const deadline of ['99', '60001', '2.5s']) {
    const error = await t.throwsAsync(startService(backend, { env: { ...testEnv(), STOCK_OPERATION_DEADLINE_MS: deadline }, logSink: () => undefined }), { instanceOf: ConfigError });
    t.deepEqual(error!.problems, [`STOCK_OPERATION_DEADLINE_MS must be an integer number of milliseconds from 100 to 60000 (got "${deadline}")`]);
  }
});
