/**
 * The synthetic canary: the storefront journey (journey.ts) in headless Chromium against a deployed
 * gateway, the check to run after every deployment (docs/runbook.md).
 *
 *   npm run canary -- --url https://shop.example.com [--screenshots DIR]
 *
 * Admin credentials (CANARY_ADMIN_EMAIL and CANARY_ADMIN_PASSWORD) make it create a product of its
 * own, buy that and delete it; without them it buys one of an existing product with stock. Either way
 * its order is cancelled right after, so the stock is back. A customer account (CANARY_EMAIL and
 * CANARY_PASSWORD) is reused across runs; without one, each run registers a new account.
 * Exit 0 when every step passed; 1 with the failing step's name; 2 for bad arguments.
 */
import { launchBrowser, runJourney, StepFailed, type Credentials } from './journey';

function parse(argv: string[]): { url: string; screenshots?: string } {
  const out: { url?: string; screenshots?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--url') out.url = value();
    else if (flag === '--screenshots') out.screenshots = value();
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!out.url || !/^https?:\/\/[^/]+/.test(out.url)) throw new Error('--url http(s)://<gateway> is required');
  return out as { url: string; screenshots?: string };
}

const pair = (email?: string, password?: string): Credentials | undefined => (email && password ? { email, password } : undefined);

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`canary: ${(err as Error).message}\nusage: npm run canary -- --url <gateway> [--screenshots DIR]\n`);
    return 2;
  }
  const say = (line: string) => process.stdout.write(`[canary] ${line}\n`);
  say(`journey against ${args.url}`);
  const browser = await launchBrowser();
  try {
    const result = await runJourney(browser, {
      url: args.url,
      admin: pair(process.env.CANARY_ADMIN_EMAIL, process.env.CANARY_ADMIN_PASSWORD),
      customer: pair(process.env.CANARY_EMAIL, process.env.CANARY_PASSWORD),
      screenshots: args.screenshots,
      report: (step, ms, error) => say(`${error ? 'FAIL' : 'ok  '} ${step} (${ms} ms)`),
    });
    say(`passed: ${result.steps.length} steps, order ${result.orderId} placed and cancelled`);
    return 0;
  } catch (err) {
    if (err instanceof StepFailed) {
      say(`FAILED at step "${err.step}": ${err.cause instanceof Error ? err.cause.message.split('\n')[0] : String(err.cause)}`);
      return 1;
    }
    say(`FAILED: ${(err as Error).message}`);
    return 1;
  } finally {
    await browser.close();
  }
}

main().then((code) => process.exit(code));
