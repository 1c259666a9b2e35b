/**
 * The Docker engine of the deploy tests and the images built for it (tools/deploy/docker):
 *  - the engine runs in a network namespace of its own: no docker0, br-*, veth, 172.x address or
 *    DOCKER iptables chain ever appears in the root namespace;
 *  - containers reach each other by name on a user network, and published ports answer inside the
 *    namespace (engine.exec);
 *  - each stand-in image starts the way compose runs it (user, read-only root, tmpfs, dropped
 *    capabilities, the repo's configuration files) and passes the healthcheck command compose runs;
 *    the project's Cassandra image (on the cassandra stand-in) gets healthy and takes its password;
 *  - the sandbox refuses limits above its hard limits, and the override lowers them;
 *  - stop() leaves no process, namespace, cgroup or run folder behind.
 * Needs root; the image inputs are prepared first (cached after the first run).
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../../cassandra/launcher';
import { cleanStaleEngines, dockerFootprint, processesOf, startDockerEngine, type DockerEngine, type ExecResult } from '../docker/engine';
import { buildImages, prepareImageInputs, probeUlimit, type BuiltImages } from '../docker/images';
import { secretKeys, serviceImageCommand, serviceNodeFlags, serviceSemiSpaceMb } from '@product-store/deploy';

const isRoot = process.getuid?.() === 0;
const serial = isRoot ? test.serial : test.serial.skip;

let engine: DockerEngine;
let built: BuiltImages;
const compose = parseYaml(readFileSync(join(repoRoot, 'compose', 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { healthcheck?: { test: string[] }; command?: string[]; entrypoint?: string[]; environment?: Record<string, string>; user?: string }>;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const containers: string[] = [];
const volumes: string[] = [];
const networks: string[] = [];

function ok(r: ExecResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** compose's healthcheck command of a service, without the CMD marker. */
function healthcheck(service: string): string[] {
  const t = compose.services[service]?.healthcheck?.test;
  if (!t || t[0] !== 'CMD') throw new Error(`no CMD healthcheck for ${service}`);
  return t.slice(1);
}

/** Options every compose service has (deploy/src/components.ts): a numeric user, no capabilities. */
const hardened = ['--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true'];

async function runContainer(name: string, args: string[]): Promise<void> {
  await engine.docker(['rm', '-f', name]);
  containers.push(name);
  ok(await engine.docker(['run', '-d', '--name', name, ...args], { timeoutMs: 120_000 }), `docker run ${name}`);
}

/** Runs `cmd` in the container until it succeeds (as the healthcheck would), failing with its logs. */
async function until(name: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
  const deadline = Date.now() + timeoutMs;
  let last: ExecResult = { code: -1, stdout: '', stderr: '' };
  while (Date.now() < deadline) {
    last = await engine.docker(['exec', name, ...cmd], { timeoutMs: 60_000 });
    if (last.code === 0) return last;
    const state = (await engine.docker(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name])).stdout.trim();
    if (state.startsWith('exited') || state.startsWith('dead')) break;
    await sleep(2000);
  }
  const logs = await engine.docker(['logs', '--tail', '40', name]);
  throw new Error(`${cmd.join(' ')} never succeeded in ${name} (last exit ${last.code}: ${last.stderr.trim()})\n--- logs ---\n${logs.stdout}${logs.stderr}`);
}

const repo = (p: string) => join(repoRoot, p);

/** The process runs (an ended one its parent has not reaped yet, a zombie, does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

test.before(async () => {
  if (!isRoot) return;
  await prepareImageInputs();
  engine = await startDockerEngine();
  built = await buildImages(engine);
});

test.after.always(async () => {
  if (!engine) return;
  for (const c of containers) await engine.docker(['rm', '-f', '-v', c]).catch(() => undefined);
  for (const v of volumes) await engine.docker(['volume', 'rm', '-f', v]).catch(() => undefined);
  for (const n of networks) await engine.docker(['network', 'rm', n]).catch(() => undefined);
  await engine.stop();
});

serial('dockerd runs in its own network namespace; nothing of it shows in the root namespace', async (t) => {
  t.regex(engine.netns, /^ps-docker-\d+$/);
  t.not(readlinkSync(`/proc/${engine.pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'dockerd is in another network namespace');
  t.true(existsSync(engine.socket));
  const inside = dockerFootprint(engine.netns);
  t.true(inside.links.includes('docker0'), 'docker0 exists inside');
  t.true(inside.chains.some((c) => c.endsWith('/DOCKER')), 'the DOCKER chain exists inside');
  t.deepEqual(dockerFootprint(), { links: [], chains: [], addresses: [] }, 'the root namespace has no bridge, veth, 172.x address or DOCKER chain');
  t.is(ok(await engine.docker(['info', '--format', '{{.CgroupVersion}} {{.Driver}}']), 'docker info').trim(), '1 overlay2');
});

serial('a container reaches another by name on a user network; a published port answers inside the namespace', async (t) => {
  const net = 'ps-smoke-net';
  await engine.docker(['network', 'rm', net]);
  networks.push(net);
  ok(await engine.docker(['network', 'create', net]), 'network create');
  const server = "require('http').createServer((q, s) => s.end('pong from ' + require('os').hostname())).listen(8080)";
  await runContainer('ps-smoke-server', ['--network', net, '--network-alias', 'pong', '--hostname', 'pong-host', '-p', '127.0.0.1:18080:8080', ...hardened, '--user', '10001:10001', built.images.node, 'node', '-e', server]);
  const client = "fetch('http://pong:8080/').then((r) => r.text()).then((t) => console.log(t), (e) => { console.error(e.cause ?? e); process.exit(1); })";
  let answer = '';
  for (let i = 0; i < 20 && !answer.includes('pong'); i++) {
    const r = await engine.docker(['run', '--rm', '--network', net, ...hardened, '--user', '10001:10001', built.images.node, 'node', '-e', client]);
    answer = r.stdout;
    if (!answer.includes('pong')) await sleep(500);
  }
  t.is(answer.trim(), 'pong from pong-host');
  const published = await engine.exec([process.execPath, '-e', "fetch('http://127.0.0.1:18080/').then((r) => r.text()).then((t) => console.log(t))"]);
  t.is(published.stdout.trim(), 'pong from pong-host', published.stderr);
  const outside = await fetch('http://127.0.0.1:18080/').then(() => 'answered', () => 'refused');
  t.is(outside, 'refused', 'the published port exists only inside the namespace');
  const root = dockerFootprint();
  t.deepEqual(root, { links: [], chains: [], addresses: [] }, 'still nothing in the root namespace with a user network and a veth');
  t.true(dockerFootprint(engine.netns).links.some((l) => l.startsWith('br-')), 'the user network bridge is inside');
});

serial('the sandbox refuses limits above its hard limits; the override lowers exactly those', async (t) => {
  const refused = await probeUlimit(engine, 'nofile', '100000:100000');
  t.not(refused.code, 0);
  t.regex(refused.stderr, /operation not permitted/i);
  t.is((await probeUlimit(engine, 'nofile', '20000:20000')).code, 0);
  t.true(built.project.refusedLimits.some((r) => r.service === 'cassandra' && r.limit === 'nofile'));
  const override = parseYaml(readFileSync(built.overrideFile, 'utf8')) as { version: string; services: Record<string, Record<string, unknown>> };
  t.is(override.version, '2.4');
  for (const [service, s] of Object.entries(override.services)) {
    const keys = Object.keys(s);
    if (service === 'cassandra') t.deepEqual(keys, ['ulimits']);
    else t.deepEqual(keys, ['image'], service);
  }
  t.deepEqual(Object.keys(override.services).sort(), ['alertmanager', 'cassandra', 'grafana', 'grafana-volume-init', 'jaeger', 'nginx', 'nginx-exporter', 'prometheus']);
  const config = await engine.exec(['docker-compose', '-f', 'compose/docker-compose.yml', '-f', built.overrideFile, 'config', '-q'], {
    cwd: repoRoot,
    // Every secret the compose file requires (the spec's list), with values of the right shape.
    env: { ...Object.fromEntries(secretKeys.map((key) => [key, 'x'])), TELEGRAM_BOT_TOKEN: '1:a', TELEGRAM_CHAT_ID: '-1' },
  });
  t.is(config.code, 0, config.stderr);
});

serial('docker-compose 1.29 drives the engine: healthchecks, depends_on service_healthy, memory and CPU limits', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ps-smoke-compose-'));
  try {
    const health = "fetch('http://127.0.0.1:8080/').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))";
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      [
        'version: "2.4"',
        'services:',
        '  server:',
        `    image: ${built.images.node}`,
        '    user: "10001:10001"',
        '    read_only: true',
        '    command: ["node", "-e", "require(\'http\').createServer((q, s) => s.end(\'ok\')).listen(8080)"]',
        `    healthcheck: { test: ["CMD", "node", "-e", ${JSON.stringify(health)}], interval: 1s, timeout: 3s, retries: 30 }`,
        '    mem_limit: 96m',
        '    cpus: 0.5',
        '    cap_drop: [ALL]',
        '    security_opt: ["no-new-privileges:true"]',
        '  client:',
        `    image: ${built.images.node}`,
        '    command: ["node", "-e", "fetch(\'http://server:8080/\').then((r) => r.text()).then((t) => console.log(\'got \' + t))"]',
        '    depends_on: { server: { condition: service_healthy } }',
        '',
      ].join('\n'),
    );
    const dc = (args: string[], timeoutMs = 120_000) => engine.exec(['docker-compose', '-p', 'pssmoke', ...args], { cwd: dir, timeoutMs });
    ok(await dc(['up', '-d']), 'docker-compose up');
    let logs = '';
    for (let i = 0; i < 60 && !logs.includes('got ok'); i++) {
      logs = (await dc(['logs', '--no-color', 'client'])).stdout;
      if (!logs.includes('got ok')) await sleep(1000);
    }
    t.regex(logs, /got ok/);
    const limits = ok(await dc(['exec', '-T', 'server', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us']), 'limits');
    t.deepEqual(limits.trim().split('\n'), [String(96 * 1024 * 1024), '50000']);
    ok(await dc(['down', '-v']), 'docker-compose down');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

serial('nginx stand-in: the repo\'s nginx.conf, as compose runs it, passes the healthcheck', async (t) => {
  const upstreams = [...readFileSync(repo('compose/nginx/nginx.conf'), 'utf8').matchAll(/^\s*server\s+([a-z][a-z0-9-]*):\d+/gm)].map((m) => m[1]);
  await runContainer('ps-smoke-nginx', [
    '--user', '101:101', '--read-only', '--tmpfs', '/tmp:size=64m', ...hardened,
    ...upstreams.flatMap((h) => ['--add-host', `${h}:127.0.0.1`]),
    '-v', `${repo('compose/nginx/nginx.conf')}:/etc/nginx/nginx.conf:ro`,
    built.images.nginx,
  ]);
  const r = await until('ps-smoke-nginx', healthcheck('nginx'), 30_000);
  t.is(r.code, 0);
  const status = ok(await engine.docker(['exec', 'ps-smoke-nginx', 'wget', '-qO-', 'http://127.0.0.1:8081/stub_status']), 'stub_status');
  t.regex(status, /Active connections/);
});

serial('nginx-exporter stand-in: --nginx.scrape-uri and --version as compose uses them', async (t) => {
  await runContainer('ps-smoke-nginx-exporter', [
    '--network', 'container:ps-smoke-nginx', '--user', '65534:65534', '--read-only', '--tmpfs', '/tmp:size=64m', ...hardened,
    built.images['nginx-exporter'], ...compose.services['nginx-exporter'].command!.map((a) => a.replace('nginx:8081', '127.0.0.1:8081')),
  ]);
  t.is((await until('ps-smoke-nginx-exporter', healthcheck('nginx-exporter'), 30_000)).code, 0);
  let metrics = '';
  for (let i = 0; i < 20 && !/nginx_up 1/.test(metrics); i++) {
    metrics = (await engine.docker(['exec', 'ps-smoke-nginx', 'wget', '-qO-', 'http://127.0.0.1:9113/metrics'])).stdout;
    if (!/nginx_up 1/.test(metrics)) await sleep(500);
  }
  t.regex(metrics, /nginx_connections_active/);
  t.regex(metrics, /nginx_up 1/);
});

serial('prometheus stand-in: the repo\'s configuration and rules load; the healthcheck passes', async (t) => {
  await runContainer('ps-smoke-prometheus', [
    '--user', '65534:65534', '--read-only', '--tmpfs', '/tmp:size=64m', ...hardened,
    '-v', 'ps-smoke-prometheus-data:/prometheus',
    '-v', `${repo('monitoring/prometheus/rules/product-store.rules.yml')}:/etc/prometheus/rules/product-store.rules.yml:ro`,
    '-v', `${repo('compose/prometheus/prometheus.yml')}:/etc/prometheus/prometheus.yml:ro`,
    built.images.prometheus, ...compose.services.prometheus.command!,
  ]);
  volumes.push('ps-smoke-prometheus-data');
  t.is((await until('ps-smoke-prometheus', healthcheck('prometheus'), 60_000)).code, 0);
  const rules = ok(await engine.docker(['exec', 'ps-smoke-prometheus', 'wget', '-qO-', 'http://127.0.0.1:9090/api/v1/rules']), 'rules');
  t.true((JSON.parse(rules).data.groups as unknown[]).length > 0, 'the rules are loaded');
});

serial('alertmanager stand-in: compose\'s entrypoint renders the configuration with render.sh; the healthcheck passes', async (t) => {
  const am = compose.services.alertmanager;
  await runContainer('ps-smoke-alertmanager', [
    '--user', '65534:65534', '--read-only', '--tmpfs', '/tmp:size=64m', ...hardened,
    '-e', 'TELEGRAM_BOT_TOKEN=123456:smoke-token', '-e', 'TELEGRAM_CHAT_ID=-100200300', '-e', `TELEGRAM_API_URL=${built.telegramApiUrl}`,
    '-v', 'ps-smoke-alertmanager-data:/alertmanager',
    '-v', `${repo('monitoring/alertmanager/alertmanager.yml')}:/etc/alertmanager/source/alertmanager.yml:ro`,
    '-v', `${repo('monitoring/alertmanager/templates/telegram.tmpl')}:/etc/alertmanager/source/templates/telegram.tmpl:ro`,
    '-v', `${repo('monitoring/alertmanager/render.sh')}:/etc/alertmanager/source/render.sh:ro`,
    '--entrypoint', am.entrypoint![0],
    built.images.alertmanager, ...am.entrypoint!.slice(1), ...am.command!,
  ]);
  volumes.push('ps-smoke-alertmanager-data');
  t.is((await until('ps-smoke-alertmanager', healthcheck('alertmanager'), 60_000)).code, 0);
  const status = JSON.parse(ok(await engine.docker(['exec', 'ps-smoke-alertmanager', 'wget', '-qO-', 'http://127.0.0.1:9093/api/v2/status']), 'status'));
  t.regex(status.config.original, /telegram_configs/);
  t.regex(status.versionInfo.version, new RegExp(`^${built.images.alertmanager.split(':').pop()!.replace(/\./g, '\\.')}$`));
});

serial('grafana stand-in: grafana-volume-init\'s chown, then the repo\'s provisioning; health, search and dashboards answer', async (t) => {
  const init = compose.services['grafana-volume-init'];
  const mounts = [
    '-v', `${repo('monitoring/grafana/grafana.ini')}:/etc/grafana/grafana.ini:ro`,
    '-v', `${repo('monitoring/grafana/provisioning/datasources/datasources.yaml')}:/etc/grafana/provisioning/datasources/datasources.yaml:ro`,
    '-v', `${repo('monitoring/grafana/provisioning/dashboards/dashboards.yaml')}:/etc/grafana/provisioning/dashboards/dashboards.yaml:ro`,
    ...readdirSync(repo('monitoring/grafana/dashboards')).flatMap((f) => ['-v', `${repo(`monitoring/grafana/dashboards/${f}`)}:/var/lib/grafana/dashboards/${f}:ro`]),
  ];
  volumes.push('ps-smoke-grafana-data');
  await engine.docker(['volume', 'rm', '-f', 'ps-smoke-grafana-data']);
  const chown = await engine.docker(['run', '--rm', '--user', '0:0', '--read-only', '--network', 'none', '--cap-drop', 'ALL', '--cap-add', 'CHOWN', '--security-opt', 'no-new-privileges:true',
    '-v', 'ps-smoke-grafana-data:/var/lib/grafana/data', '--entrypoint', init.entrypoint![0], built.images.grafana, ...init.entrypoint!.slice(1)]);
  t.is(chown.code, 0, chown.stderr);
  await runContainer('ps-smoke-grafana', [
    '--user', '472:472', '--read-only', '--tmpfs', '/tmp:size=64m', ...hardened,
    '-e', 'GF_SECURITY_ADMIN_PASSWORD=smoke-admin-password', '-e', 'GF_PATHS_DATA=/var/lib/grafana/data',
    '-v', 'ps-smoke-grafana-data:/var/lib/grafana/data', ...mounts, built.images.grafana,
  ]);
  t.is((await until('ps-smoke-grafana', healthcheck('grafana'), 30_000)).code, 0);
  const health = JSON.parse(ok(await engine.docker(['exec', 'ps-smoke-grafana', 'curl', '-fsS', 'http://127.0.0.1:3000/api/health']), 'health'));
  t.is(health.database, 'ok');
  t.is((await engine.docker(['exec', 'ps-smoke-grafana', 'curl', '-fsS', 'http://127.0.0.1:3000/api/search'])).code, 22, 'the API needs the admin login');
  const search = JSON.parse(ok(await engine.docker(['exec', 'ps-smoke-grafana', 'curl', '-fsS', '-u', 'admin:smoke-admin-password', 'http://127.0.0.1:3000/api/search?type=dash-db']), 'search'));
  const files = readdirSync(repo('monitoring/grafana/dashboards'));
  t.is(search.length, files.length);
  const uid = JSON.parse(readFileSync(repo(`monitoring/grafana/dashboards/${files[0]}`), 'utf8')).uid;
  const dash = JSON.parse(ok(await engine.docker(['exec', 'ps-smoke-grafana', 'curl', '-fsS', '-u', 'admin:smoke-admin-password', `http://127.0.0.1:3000/api/dashboards/uid/${uid}`]), 'dashboard'));
  t.is(dash.dashboard.uid, uid);
  t.is(dash.meta.folderTitle, 'Product Store');

  // Without the chown of grafana-volume-init, the data folder is root's: the stand-in refuses to start, as Grafana does.
  volumes.push('ps-smoke-grafana-raw');
  await engine.docker(['volume', 'rm', '-f', 'ps-smoke-grafana-raw']);
  const raw = await engine.docker(['run', '--rm', '--user', '472:472', '--read-only', '--tmpfs', '/tmp', ...hardened, '-e', 'GF_PATHS_DATA=/var/lib/grafana/data', '-v', 'ps-smoke-grafana-raw:/var/lib/grafana/data', ...mounts, built.images.grafana], { timeoutMs: 60_000 });
  t.not(raw.code, 0);
  t.regex(raw.stdout + raw.stderr, /failed to open the database/);
  // An invalid provisioning file stops it too.
  const bad = await engine.docker(['run', '--rm', '--user', '472:472', ...hardened, '--entrypoint', 'sh', built.images.grafana, '-c', 'printf "datasources:\\n  - name: [\\n" > /etc/grafana/provisioning/datasources/bad.yaml 2>/dev/null || true; exec /run.sh'], { timeoutMs: 60_000 });
  t.not(bad.code, 0);
});

serial('jaeger stand-in: the real all-in-one, as compose runs it, passes the healthcheck and takes OTLP', async (t) => {
  const env = Object.entries(compose.services.jaeger.environment ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  await runContainer('ps-smoke-jaeger', ['--user', '10001:10001', '--read-only', '--tmpfs', '/tmp:size=64m', ...hardened, ...env, built.images.jaeger]);
  t.is((await until('ps-smoke-jaeger', healthcheck('jaeger'), 60_000)).code, 0);
  const otlp = await engine.docker(['exec', 'ps-smoke-jaeger', 'wget', '-qO-', '--header', 'Content-Type: application/json', '--post-data', '{"resourceSpans":[]}', 'http://127.0.0.1:4318/v1/traces']);
  t.is(otlp.code, 0, otlp.stderr);
  const services = JSON.parse(ok(await engine.docker(['exec', 'ps-smoke-jaeger', 'wget', '-qO-', 'http://127.0.0.1:16686/api/services']), 'api/services'));
  t.true('data' in services);
});

serial('the fake Telegram Bot API answers sendMessage as Telegram and lists what it got', async (t) => {
  await runContainer(built.telegramContainer, ['--network', 'ps-smoke-net', '--network-alias', built.telegramHost, built.images.telegram]);
  const send = `fetch('http://127.0.0.1:8080/bot123456:abc/sendMessage', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ chat_id: -100200300, text: 'hello', parse_mode: 'HTML' }) }).then((r) => r.text()).then((t) => console.log(t))`;
  const answer = JSON.parse((await until(built.telegramContainer, ['node', '-e', send], 20_000)).stdout);
  t.deepEqual(answer, { ok: true, result: { message_id: 1, date: 0, chat: { id: -100200300, type: 'group' } } });
  const viaAlias = await engine.docker(['run', '--rm', '--network', 'ps-smoke-net', ...hardened, '--user', '10001:10001', built.images.node, 'node', '-e', `fetch('${built.telegramApiUrl}/health').then((r) => console.log(r.status))`]);
  t.is(viaAlias.stdout.trim(), '200', `reachable at telegramApiUrl: ${viaAlias.stderr}`);
  const messages = JSON.parse(ok(await engine.docker(['exec', built.telegramContainer, ...built.telegramMessagesCommand]), 'messages'));
  t.is(messages.length, 1);
  t.like(messages[0], { token: '123456:abc', chat_id: -100200300, text: 'hello', body: { chat_id: -100200300, text: 'hello' } });
});

serial('the service images: built from the project\'s Dockerfile on Node 24, running as 10001, with the spec\'s command and V8 flags', async (t) => {
  for (const service of ['backend', 'cart-service', 'order-service', 'user-service']) {
    const image = built.images[service];
    t.truthy(image, service);
    const r = await engine.docker(['run', '--rm', '--entrypoint', 'sh', image, '-c', 'node --version; id -u; test -f dist/main.js && test -f dist/instrumentation.js && test -d node_modules/koa && echo ok']);
    t.deepEqual(r.stdout.trim().split('\n'), ['v24.22.3', '10001', 'ok'], `${service}: ${r.stderr}`);
    // Compose and the cluster run the image's command: the spec's, V8 flags included.
    const cmd = await engine.docker(['inspect', '--format', '{{json .Config.Cmd}}', image]);
    t.deepEqual(JSON.parse(cmd.stdout), [...serviceImageCommand], service);
    // Node 24 takes the flags: after a burst of short-lived objects the new space (both semi-spaces, as
    // V8 reports it) is what they give, where V8's default grows it to 32 MB.
    const churn = "let k = []; for (let i = 0; i < 4e6; i++) { k.push({ i, s: 'x' + i }); if (k.length > 5e4) k = []; } process.stdout.write(String(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))";
    const sized = await engine.docker(['run', '--rm', '--entrypoint', 'node', image, ...serviceNodeFlags, '-e', churn]);
    t.is(sized.stdout, String(2 * serviceSemiSpaceMb * 1024 * 1024), `${service}: ${sized.stderr}`);
  }
});

// The project's Cassandra image is checked where compose runs it (compose.test.ts): healthy, its address in
// nodetool status, cqlsh with the set password (the default refused), its metrics scraped by Prometheus.

/** A child process that starts its own engine (own data-root), then waits. */
async function childEngine(dataRoot: string): Promise<{ child: ReturnType<typeof spawn>; netns: string; dockerd: number }> {
  const script = `
    const { startDockerEngine } = require(${JSON.stringify(join(repoRoot, 'tools/deploy/docker/engine'))});
    startDockerEngine({ dataRoot: ${JSON.stringify(dataRoot)}, log: () => undefined }).then(async (e) => {
      console.log(JSON.stringify({ netns: e.netns, dockerd: e.pid }));
      setInterval(() => undefined, 1000);
    }, (err) => { console.error(err); process.exit(1); });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`the child engine exited (${code}): ${err}`)));
  });
  const { netns, dockerd } = JSON.parse(line);
  return { child, netns, dockerd };
}

serial('an engine whose process is killed is cleaned up by the next start; SIGTERM cleans up at once', async (t) => {
  const dataRoot = mkdtempSync(join(tmpdir(), 'ps-smoke-data-root-'));
  try {
    const killed = await childEngine(dataRoot);
    t.true(readdirSync('/run/netns').includes(killed.netns));
    killed.child.kill('SIGKILL');
    await new Promise((r) => killed.child.once('exit', r));
    t.true(running(killed.dockerd), 'a SIGKILLed owner leaves dockerd running');
    cleanStaleEngines({ dataRoot, log: () => undefined });
    t.false(readdirSync('/run/netns').includes(killed.netns), 'the next start removes the namespace');
    t.false(running(killed.dockerd), 'and ends dockerd');

    const termed = await childEngine(dataRoot);
    termed.child.kill('SIGTERM');
    await new Promise((r) => termed.child.once('exit', r));
    t.false(readdirSync('/run/netns').includes(termed.netns), 'SIGTERM: the namespace is removed before the process exits');
    t.false(running(termed.dockerd));
  } finally {
    rmSync(dataRoot, { recursive: true, force: true });
  }
});

serial('stop() ends every process of the engine and removes its namespace, cgroups and run folder', async (t) => {
  const ns = engine.netns;
  const ino = statSync(`/run/netns/${ns}`).ino;
  const pid = engine.pid;
  const runDir = engine.runDir;
  t.true(processesOf(ino).length > 2, 'dockerd, containerd and the shims run');
  await engine.stop();
  t.false(readdirSync('/run/netns').includes(ns), 'the namespace is gone');
  t.deepEqual(processesOf(ino, [pid]).map((p) => `${p.pid} ${p.comm}`), []);
  t.false(running(pid));
  t.false(existsSync(runDir));
  t.false(readdirSync('/sys/fs/cgroup/memory').includes(ns), 'its cgroups are removed');
  t.false(readFileSync('/proc/self/mountinfo', 'utf8').includes(engine.dataRoot), 'no overlay mount of it in the root mount namespace');
  await engine.stop(); // a second stop() does nothing
  t.deepEqual(dockerFootprint(), { links: [], chains: [], addresses: [] });
});
