/**
 * `npm start`: the local stack as plain processes. Cassandra (the project's own, or CASSANDRA_HOST),
 * then every service of the topology, each waited for on /ready. Ctrl-C or SIGTERM stops everything
 * it started, services first, Cassandra last. The caller's environment reaches every service.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { services, type ServiceSpec } from '../../services/kit/src/topology';
import { ensureCassandra, repoRoot, type CassandraHandle } from '../cassandra/launcher';

const say = (line: string) => process.stderr.write(`[stack] ${line}\n`);

/** Development defaults, used only when the caller did not set the variable (never in production). */
export const developmentDefaults: Record<string, string> = {
  ENVIRONMENT: 'development',
  SEED_DEMO_CATALOG: 'true',
  ADMIN_EMAIL: 'admin@example.com',
  ADMIN_PASSWORD: 'admin-dev-password',
};

interface Running {
  spec: ServiceSpec;
  child: ChildProcess;
  exited: Promise<number | null>;
}

function prefixLines(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) {
  let rest = '';
  stream.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) out.write(`[${name}] ${line}\n`);
  });
}

function startService(spec: ServiceSpec, env: NodeJS.ProcessEnv): Running {
  const main = join(repoRoot, 'services', spec.dir, 'src', 'main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', main], { cwd: repoRoot, env: { ...env, PORT: String(spec.port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  prefixLines(spec.name, child.stdout!, process.stdout);
  prefixLines(spec.name, child.stderr!, process.stderr);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { spec, child, exited };
}

async function waitReady(running: Running, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void running.exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`${running.spec.name} exited with code ${exitCode} during start-up (see its log above)`);
    try {
      const res = await fetch(`http://127.0.0.1:${running.spec.port}/ready`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${running.spec.name} was not ready within ${timeoutMs / 1000} s`);
}

async function main(): Promise<void> {
  let cassandra: CassandraHandle | undefined;
  const started: Running[] = [];
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    await Promise.all(
      started.map(async (r) => {
        r.child.kill('SIGTERM');
        const timer = setTimeout(() => r.child.kill('SIGKILL'), 12_000);
        await r.exited;
        clearTimeout(timer);
      }),
    );
    await cassandra?.stop();
    say('stopped');
    process.exit(code);
  };
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));

  try {
    cassandra = await ensureCassandra();
    // The development defaults never apply to a production run: there the services demand real values.
    const defaults = process.env.ENVIRONMENT === 'production' ? {} : developmentDefaults;
    const env: NodeJS.ProcessEnv = { ...defaults, ...process.env, CASSANDRA_HOST: cassandra.host, CASSANDRA_PORT: String(cassandra.port) };
    const available = services.filter((s) => existsSync(join(repoRoot, 'services', s.dir, 'src', 'main.ts')));
    for (const spec of available) {
      const running = startService(spec, env);
      started.push(running);
      void running.exited.then((code) => {
        if (!stopping) {
          say(`${spec.name} exited unexpectedly (code ${code}); stopping the stack`);
          void stopAll(1);
        }
      });
    }
    await Promise.all(started.map((r) => waitReady(r)));
    say('the stack is up:');
    say(`  Cassandra     ${cassandra.host}:${cassandra.port}${cassandra.owned ? ` (data in ${process.env.CASSANDRA_DATA_DIR ?? join(repoRoot, '.data', 'cassandra')})` : ''}`);
    for (const r of started) say(`  ${r.spec.name.padEnd(13)} http://localhost:${r.spec.port}  (${r.spec.description})`);
    say('Ctrl-C stops everything.');
  } catch (err) {
    say(`could not start: ${(err as Error).message}`);
    await stopAll(1);
  }
}

void main();
