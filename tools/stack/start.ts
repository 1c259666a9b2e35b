/**
 * `npm start`: the local stack as plain processes (see stack.ts): Cassandra, the four services
 * (two replicas each, behind nginx), the nginx gateway on GATEWAY_PORT (8080) with the storefront at `/`, Prometheus (9090) and
 * Alertmanager (9093). Ctrl-C or SIGTERM stops everything it started. The caller's environment
 * reaches every service.
 */
import { join } from 'node:path';
import { services } from '@product-store/deploy';
import { repoRoot } from '../cassandra/launcher';
import { startLocalStack, type RunningStack } from './stack';
import { onStopSignals } from './signals';
import { startTelegramSink, type TelegramSink } from './telegram-sink';

const say = (line: string) => process.stderr.write(`[stack] ${line}\n`);

/** Development defaults, used only when the caller did not set the variable, and never in production. */
export const developmentDefaults: Record<string, string> = {
  ENVIRONMENT: 'development',
  SEED_DEMO_CATALOG: 'true',
  ADMIN_EMAIL: 'admin@example.com',
  ADMIN_PASSWORD: 'admin-dev-password',
};

async function main(): Promise<void> {
  let stack: RunningStack | undefined;
  let telegram: TelegramSink | undefined;
  let starting: Promise<RunningStack> | undefined;
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    // Signalled during start-up: the stack is stopped once its start ends (the terminal's Ctrl-C
    // has ended the services already, so that is soon; Cassandra, in its own process group, is not).
    if (!stack && starting) {
      say('stopping once start-up ends');
      stack = await starting.catch(() => undefined);
    }
    say('stopping');
    await stack?.stop();
    await telegram?.close();
    say('stopped');
    process.exit(code);
  };
  onStopSignals(() => void stopAll(0), {
    say,
    leftBehind: () => (stack?.cassandra.owned ? `Cassandra on ${stack.cassandra.host}:${stack.cassandra.port} (the next npm start adopts it)` : 'processes of the stack'),
  });

  const defaults = process.env.ENVIRONMENT === 'production' ? {} : developmentDefaults;
  const env: NodeJS.ProcessEnv = { ...defaults, ...process.env };
  try {
    // Without a real bot, alerts are printed here instead of sent to Telegram.
    if (!env.TELEGRAM_BOT_TOKEN) {
      telegram = await startTelegramSink((message) => say(`alert message (not sent: TELEGRAM_BOT_TOKEN is not set):\n${message.text}`));
    }
    const started = startLocalStack({
      dataDir: join(process.env.STACK_DATA_DIR ?? join(repoRoot, '.data', 'stack')),
      env,
      ports: process.env.GATEWAY_PORT ? { gateway: Number(process.env.GATEWAY_PORT) } : {},
      telegramApiUrl: telegram?.url,
      onUnexpectedExit: (name, code) => {
        if (stopping) return;
        say(`${name} exited unexpectedly (code ${code}); stopping the stack`);
        void stopAll(1);
      },
    });
    starting = started;
    stack = await started;
    if (stopping) return;
    say('the stack is up:');
    say(`  gateway        ${stack.url('gateway')}  (the storefront at /; the public API: try /products, /health, /openapi.json)`);
    for (const s of services) {
      const replicas = stack.replicas(s.name);
      say(`  ${s.name.padEnd(14)} ${replicas.map((r) => r.url).join(', ')}  (${s.description}; ${replicas.length} replicas behind nginx)`);
    }
    say(`  Cassandra      ${stack.cassandra.contactPoints} port ${stack.cassandra.port}, metrics on :${stack.cassandra.metricsPort}${stack.cassandra.contactPoints.includes(',') ? ' (node N: + N - 1)' : ''}`);
    say(`  Prometheus     ${stack.url('prometheus')}`);
    say(`  Alertmanager   ${stack.url('alertmanager')}${telegram ? ' (alerts are printed here)' : ' (alerts go to Telegram)'}`);
    say('  Grafana and Jaeger run in the compose and cluster deployments only (not packaged for this machine).');
    for (const m of stack.missing) say(`  ${m.component} is not installed and was skipped: ${m.install}`);
    say('Ctrl-C stops everything.');
  } catch (err) {
    say(`could not start: ${(err as Error).message}`);
    await stopAll(1);
  }
}

void main();
