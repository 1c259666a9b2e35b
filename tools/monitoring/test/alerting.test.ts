/**
 * The alerting pipeline, checked with the real tools: Prometheus' rules and their unit tests
 * (promtool), the runbook every alert links to, Alertmanager's configuration, routing and Telegram
 * template (amtool), render.sh, and one end-to-end run of Alertmanager against a fake Telegram API.
 *
 * Needs promtool and amtool/prometheus-alertmanager on the PATH (Debian: `apt-get install prometheus
 * prometheus-alertmanager`); without them the tests fail, they never skip.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';

const repoRoot = resolve(__dirname, '..', '..', '..');
const rulesPath = join(repoRoot, 'monitoring', 'prometheus', 'rules', 'product-store.rules.yml');
const testsDir = join(repoRoot, 'monitoring', 'prometheus', 'tests');
const amDir = join(repoRoot, 'monitoring', 'alertmanager');
const amConfigPath = join(amDir, 'alertmanager.yml');
const renderScript = join(amDir, 'render.sh');
const runbookPath = join(repoRoot, 'docs', 'runbook.md');
const runbookBase = 'https://github.com/product-store/product-store/blob/main/docs/runbook.md#';
const install = 'apt-get install prometheus prometheus-alertmanager';

/** Runs a command to completion; a missing tool is a failure that says how to install it. */
function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, encoding: 'utf8', timeout: 60_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error(`${command} is not installed; on Debian or Ubuntu: ${install}`);
  }
  if (result.error) throw result.error;
  return result;
}
const output = (r: SpawnSyncReturns<string>) => `${r.stdout}\n${r.stderr}`;

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules: Rule[] = (parse(readFileSync(rulesPath, 'utf8')).groups as { rules: Rule[] }[]).flatMap((g) => g.rules);
const alerts = rules.filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');
const alertNames = new Set(alerts.map((a) => a.alert));

const testFiles = readdirSync(testsDir)
  .filter((f) => f.endsWith('.test.yml'))
  .sort()
  .map((f) => join(testsDir, f));

/** GitHub's heading anchors: lower case, punctuation removed, spaces to hyphens, -1, -2... for repeats. */
function anchorsOf(markdown: string): { anchors: Set<string>; headings: { level: number; text: string; anchor: string }[] } {
  const anchors = new Set<string>();
  const headings: { level: number; text: string; anchor: string }[] = [];
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = !fenced && /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[2]
      .replace(/`/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    const anchor = count === 0 ? base : `${base}-${count}`;
    anchors.add(anchor);
    headings.push({ level: m[1].length, text: m[2], anchor });
  }
  return { anchors, headings };
}

test('promtool and amtool are installed', (t) => {
  for (const tool of ['promtool', 'amtool', 'prometheus-alertmanager']) {
    const r = run(tool, ['--version']);
    t.is(r.status, 0, `${tool} --version failed; install it with: ${install}\n${output(r)}`);
  }
});

// --- Prometheus rules ---------------------------------------------------------------------------

test('promtool check rules accepts the rules file', (t) => {
  const r = run('promtool', ['check', 'rules', rulesPath]);
  t.is(r.status, 0, output(r));
  t.regex(r.stdout, /SUCCESS: \d+ rules found/);
});

test('promtool test rules passes every unit test file', (t) => {
  t.true(testFiles.length > 0, `no *.test.yml in ${testsDir}`);
  const r = run('promtool', ['test', 'rules', ...testFiles]);
  t.is(r.status, 0, output(r));
  t.notRegex(output(r), /FAILED/);
});

test('every alert has a severity, a summary, a description and a runbook link to an existing section', (t) => {
  t.true(alerts.length >= 20, `only ${alerts.length} alerts`);
  const { anchors } = anchorsOf(readFileSync(runbookPath, 'utf8'));
  for (const rule of rules) {
    const name = rule.alert ?? rule.record ?? '(unnamed)';
    t.true(['critical', 'warning', 'none'].includes(rule.labels?.severity ?? ''), `${name}: severity label is ${rule.labels?.severity}`);
    if (!rule.alert) continue;
    const a = rule.annotations ?? {};
    t.truthy(a.summary?.trim(), `${name}: no summary`);
    t.truthy(a.description?.trim(), `${name}: no description`);
    t.true(a.runbook_url?.startsWith(runbookBase), `${name}: runbook_url ${a.runbook_url} is not ${runbookBase}<anchor>`);
    const anchor = a.runbook_url?.slice(runbookBase.length) ?? '';
    t.true(anchors.has(anchor), `${name}: docs/runbook.md has no heading with the anchor #${anchor}`);
  }
});

test('the guide\'s alerts are there, with their thresholds, and keep the job label', (t) => {
  const byName = new Map(alerts.map((a) => [a.alert, a]));
  for (const name of ['HighCPUUsage', 'HighMemoryUsage', 'ServiceDown', 'HighErrorRate', 'CassandraDown', 'CheckoutLatencyHigh', 'NoOrdersPlaced', 'Watchdog']) {
    t.true(byName.has(name), `${name} is missing`);
  }
  t.is(byName.get('ServiceDown')?.for, '1m');
  t.regex(byName.get('ServiceDown')!.expr, /up\{job=~"backend\|cart-service\|order-service\|user-service"\} == 0/);
  t.regex(byName.get('CassandraDown')!.expr, /up\{job="cassandra"\} == 0/);
  for (const name of ['HighCPUUsage', 'HighMemoryUsage', 'HighErrorRate']) t.is(byName.get(name)?.for, '5m', name);
  t.regex(byName.get('HighCPUUsage')!.expr, /> 0\.8\b/);
  t.regex(byName.get('HighMemoryUsage')!.expr, /process_memory_limit_bytes/);
  t.regex(byName.get('HighMemoryUsage')!.expr, /jvm_memory_max_bytes\{job="cassandra", area="heap"\}/);
  t.regex(byName.get('HighErrorRate')!.expr, /status_code=~"5\.\."/);
  t.regex(byName.get('HighErrorRate')!.expr, /> 0\)/, 'HighErrorRate guards its denominator');
  t.regex(byName.get('CheckoutLatencyHigh')!.expr, /histogram_quantile\(0\.95/);
  t.regex(byName.get('CheckoutLatencyHigh')!.expr, /method="POST", route="\/orders"/);
  t.regex(byName.get('NoOrdersPlaced')!.expr, /orders_placed_total/);
  t.regex(byName.get('NoOrdersPlaced')!.expr, /http_request_duration_seconds_count\{job="(backend|order-service)"/);
  const watchdog = byName.get('Watchdog')!;
  t.is(watchdog.expr.trim(), 'vector(1)');
  t.is(watchdog.labels?.severity, 'none');
  t.deepEqual(alerts.filter((a) => a.labels?.severity === 'none').map((a) => a.alert), ['Watchdog'], 'only Watchdog has severity none');
  // Per-service alerts must not aggregate the job away: Alertmanager groups and inhibits by it.
  for (const a of alerts) {
    if (a.alert === 'Watchdog') continue;
    for (const m of a.expr.matchAll(/\b(?:sum|max|min|avg|count)\s+(by|without)\s*\(([^)]*)\)/g)) {
      if (m[1] === 'by' && m[2].trim() !== '') t.true(m[2].split(',').map((l) => l.trim()).includes('job'), `${a.alert}: "${m[0]}" drops the job label`);
      if (m[1] === 'without') t.false(m[2].includes('job'), `${a.alert}: "${m[0]}" drops the job label`);
    }
  }
});

test('every alert has a firing and a non-firing unit test case (Watchdog, always firing, only the former)', (t) => {
  const firing = new Set<string>();
  const quiet = new Set<string>();
  for (const file of testFiles) {
    const doc = parse(readFileSync(file, 'utf8'));
    const ruleFiles = (doc.rule_files as string[]).map((f) => resolve(dirname(file), f));
    t.true(ruleFiles.includes(rulesPath), `${file} does not load ${rulesPath}`);
    for (const group of doc.tests ?? []) {
      for (const c of group.alert_rule_test ?? []) {
        t.true(alertNames.has(c.alertname), `${file}: test case for an unknown alert ${c.alertname}`);
        const expected = (c.exp_alerts ?? []) as { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[];
        if (expected.length === 0) {
          quiet.add(c.alertname);
          continue;
        }
        firing.add(c.alertname);
        for (const e of expected) {
          t.truthy(e.exp_labels?.severity, `${file}: ${c.alertname} expects no severity label`);
          t.truthy(e.exp_annotations?.runbook_url, `${file}: ${c.alertname} does not check its annotations`);
        }
      }
    }
  }
  for (const name of alertNames) {
    t.true(firing.has(name), `${name} has no firing test case`);
    if (name !== 'Watchdog') t.true(quiet.has(name), `${name} has no non-firing test case`);
  }
});

test('docs/runbook.md: the intro, an Alerts section, and one ### section per alert', (t) => {
  const text = readFileSync(runbookPath, 'utf8');
  const { headings } = anchorsOf(text);
  t.is(headings[0]?.level, 1);
  t.is(headings[0]?.text, 'Product Store runbook');
  const alertsAt = headings.findIndex((h) => h.level === 2 && h.text === 'Alerts');
  t.true(alertsAt > 0, 'no "## Alerts" section');
  const end = headings.findIndex((h, i) => i > alertsAt && h.level <= 2);
  const sections = headings.slice(alertsAt + 1, end === -1 ? undefined : end).filter((h) => h.level === 3);
  t.deepEqual(sections.map((s) => s.text).sort(), [...alertNames].sort(), 'the ### sections under "## Alerts" are not exactly the alerts');
  for (const s of sections) {
    const body = text.slice(text.indexOf(`### ${s.text}\n`) + s.text.length + 5).split(/\n#{1,3} /)[0];
    t.true(body.includes('docker-compose -f compose/docker-compose.yml'), `${s.text}: no docker-compose command`);
    t.true(body.includes('kubectl -n product-store'), `${s.text}: no kubectl command`);
    for (const part of ['**Meaning.**', '**Confirm.**', '**What to do.**']) t.true(body.includes(part), `${s.text}: no ${part}`);
  }
});

// --- Alertmanager configuration ------------------------------------------------------------------

/** The files a `templates:` entry of an Alertmanager configuration matches (dir/*.ext patterns). */
function templateFiles(configPath: string): string[] {
  const config = parse(readFileSync(configPath, 'utf8'));
  return (config.templates as string[]).flatMap((pattern) => {
    const full = resolve(dirname(configPath), pattern);
    const dir = dirname(full);
    const glob = new RegExp(`^${full.slice(dir.length + 1).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    return existsSync(dir) ? readdirSync(dir).filter((f) => glob.test(f)).map((f) => join(dir, f)) : [];
  });
}

test('amtool check-config accepts the committed configuration, and its templates are found', (t) => {
  // From the repository root, as in the brief, and from elsewhere: templates resolve against the file.
  for (const cwd of [repoRoot, tmpdir()]) {
    const r = run('amtool', ['check-config', cwd === repoRoot ? 'monitoring/alertmanager/alertmanager.yml' : amConfigPath], { cwd });
    t.is(r.status, 0, output(r));
    t.regex(r.stdout, /SUCCESS/);
  }
  // check-config says SUCCESS even when the glob matches nothing: check the files exist.
  t.deepEqual(templateFiles(amConfigPath), [join(amDir, 'templates', 'telegram.tmpl')]);
});

test('the committed configuration: placeholders, Telegram settings, grouping and inhibitions', (t) => {
  const text = readFileSync(amConfigPath, 'utf8');
  const config = parse(text);
  t.deepEqual(config.templates, ['templates/*.tmpl']);
  t.deepEqual(config.route.group_by, ['alertname', 'job']);
  const receivers = new Map<string, Record<string, any>>(config.receivers.map((r: Record<string, any>) => [r.name, r]));
  t.deepEqual(Object.keys(receivers.get('watchdog') ?? { missing: true }), ['name'], 'watchdog is a null receiver');
  for (const name of ['telegram-critical', 'telegram-warning']) {
    const telegram = receivers.get(name)?.telegram_configs;
    t.is(telegram?.length, 1, name);
    t.like(telegram[0], {
      bot_token: 'TELEGRAM_BOT_TOKEN_PLACEHOLDER',
      chat_id: -1000000000000,
      api_url: 'https://api.telegram.org',
      parse_mode: 'HTML',
      message: '{{ template "telegram.message" . }}',
      send_resolved: true,
    });
  }
  t.regex(text, /^\s+chat_id: -1000000000000$/m, 'chat_id is an unquoted integer');
  const critical = config.route.routes.find((r: any) => r.receiver === 'telegram-critical');
  const warning = config.route.routes.find((r: any) => r.receiver === 'telegram-warning');
  t.like(critical, { group_wait: '10s', repeat_interval: '1h' });
  t.like(warning, { group_wait: '1m', repeat_interval: '12h' });
  const inhibit = (source: string) => config.inhibit_rules.filter((r: any) => r.source_matchers.includes(source));
  t.true(inhibit('alertname="ServiceDown"').some((r: any) => /HighErrorRate/.test(r.target_matchers.join()) && /CheckoutLatencyHigh/.test(r.target_matchers.join()) && r.equal?.includes('job')));
  t.true(inhibit('alertname="CassandraDown"').some((r: any) => r.target_matchers.includes('job="cassandra"')));
  t.true(inhibit('alertname="CassandraDown"').some((r: any) => /HighErrorRate/.test(r.target_matchers.join())));
  t.true(inhibit('severity="critical"').some((r: any) => r.target_matchers.includes('severity="warning"') && r.equal.includes('alertname') && r.equal.includes('job')));
});

const routeCases: [string, string[]][] = [
  ['telegram-critical', ['severity=critical', 'alertname=ServiceDown', 'job=backend']],
  ['telegram-critical', ['severity=critical', 'alertname=CassandraDown', 'job=cassandra']],
  ['telegram-warning', ['severity=warning', 'alertname=HighCPUUsage', 'job=backend']],
  ['watchdog', ['severity=none', 'alertname=Watchdog']],
  ['telegram-warning', ['alertname=SomethingWithoutSeverity']],
];
for (const [receiver, labels] of routeCases) {
  test(`amtool routes ${labels.join(' ')} to ${receiver}`, (t) => {
    const r = run('amtool', ['config', 'routes', 'test', `--config.file=${amConfigPath}`, `--verify.receivers=${receiver}`, ...labels]);
    t.is(r.status, 0, output(r));
    t.is(r.stdout.trim(), receiver);
  });
}

test('amtool routes test fails for a wrong receiver (the check can fail)', (t) => {
  const r = run('amtool', ['config', 'routes', 'test', `--config.file=${amConfigPath}`, '--verify.receivers=watchdog', 'severity=critical', 'alertname=ServiceDown']);
  t.not(r.status, 0);
});

// --- the Telegram template -----------------------------------------------------------------------

function renderTemplate(t: { teardown: (fn: () => void) => void }, data: unknown): SpawnSyncReturns<string> {
  const dir = mkdtempSync(join(tmpdir(), 'am-template-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'data.json'), JSON.stringify(data));
  return run('amtool', [
    'template',
    'render',
    '--template.type=html',
    `--template.glob=${join(amDir, 'templates', '*.tmpl')}`,
    '--template.text={{ template "telegram.message" . }}',
    `--template.data=${join(dir, 'data.json')}`,
  ]);
}

const runbook = (anchor: string) => `${runbookBase}${anchor}`;
function alertData(status: 'firing' | 'resolved', labels: Record<string, string>, annotations: Record<string, string>, startsAt: string, endsAt = '0001-01-01T00:00:00Z') {
  return { status, labels, annotations, startsAt, endsAt, generatorURL: 'http://prometheus:9090/graph?g0.expr=up&g0.tab=1', fingerprint: Math.random().toString(16).slice(2) };
}

test('the Telegram template: a readable, escaped HTML message for firing and resolved alerts', (t) => {
  const common = { alertname: 'HighErrorRate', job: 'backend', severity: 'critical' };
  const r = renderTemplate(t, {
    receiver: 'telegram-critical',
    status: 'firing',
    alerts: [
      alertData('firing', { ...common, instance: 'backend:8000' }, { summary: 'backend answers with server errors', description: '10% of <requests> & "more" answered 5xx', runbook_url: runbook('higherrorrate') }, '2024-05-01T10:00:00Z'),
      alertData('resolved', { ...common, instance: 'backend-2:8000', route: '/a<b>' }, { summary: 'backend answers with server errors', description: 'back to normal', runbook_url: runbook('higherrorrate') }, '2024-05-01T09:00:00Z', '2024-05-01T09:30:00Z'),
    ],
    groupLabels: { alertname: 'HighErrorRate', job: 'backend' },
    commonLabels: common,
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
  });
  t.is(r.status, 0, output(r));
  const text = r.stdout;
  t.regex(text, /^🔥 <b>FIRING<\/b> <b>HighErrorRate<\/b>/);
  t.regex(text, /<b>Severity:<\/b> critical/);
  t.regex(text, /<b>Job:<\/b> <code>backend<\/code>/);
  t.regex(text, /<b>Firing \(1\):<\/b>/);
  t.regex(text, /<b>Resolved \(1\):<\/b>/);
  t.regex(text, /<b>Instance:<\/b> <code>backend:8000<\/code>/);
  t.true(text.includes('10% of &lt;requests&gt; &amp; &#34;more&#34; answered 5xx'), 'annotations are escaped');
  t.true(text.includes('<b>route:</b> <code>/a&lt;b&gt;</code>'), 'labels are escaped');
  t.true(text.includes(`<a href="${runbook('higherrorrate')}">Runbook</a>`));
  t.true(text.includes('<b>Started:</b> 2024-05-01 10:00:00 UTC'));
  t.true(text.includes('<b>Ended:</b> 2024-05-01 09:30:00 UTC'));
  t.is(text.match(/<b>Ended:<\/b>/g)?.length, 1, 'only the resolved alert has an end');
  // Only tags Telegram's HTML mode supports.
  for (const tag of text.matchAll(/<\/?([a-z-]+)/g)) t.true(['b', 'i', 'u', 's', 'a', 'code', 'pre', 'blockquote'].includes(tag[1]), `<${tag[1]}> is not supported by Telegram`);

  const resolved = renderTemplate(t, {
    receiver: 'telegram-warning',
    status: 'resolved',
    alerts: [alertData('resolved', { alertname: 'HighCPUUsage', job: 'cassandra', severity: 'warning', instance: 'cassandra:7070' }, { summary: 'cassandra uses a lot of CPU', description: 'd', runbook_url: runbook('highcpuusage') }, '2024-05-01T09:00:00Z', '2024-05-01T09:30:00Z')],
    groupLabels: { alertname: 'HighCPUUsage', job: 'cassandra' },
    commonLabels: { alertname: 'HighCPUUsage', job: 'cassandra', severity: 'warning', instance: 'cassandra:7070' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
  });
  t.is(resolved.status, 0, output(resolved));
  t.regex(resolved.stdout, /^✅ <b>RESOLVED<\/b> <b>HighCPUUsage<\/b>/);
  t.notRegex(resolved.stdout, /Firing \(/);
});

// --- render.sh ------------------------------------------------------------------------------------

const goodEnv = { TELEGRAM_BOT_TOKEN: '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_-', TELEGRAM_CHAT_ID: '-1001234567890' };
function render(outputPath: string, env: Record<string, string | undefined>) {
  const clean: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  return run('sh', [renderScript, amConfigPath, outputPath], { env: clean });
}

test('render.sh renders a configuration amtool accepts, with the templates beside it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'am-render-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'nested', 'alertmanager.yml');
  const r = render(out, { ...goodEnv, TELEGRAM_API_URL: 'http://127.0.0.1:18080/' });
  t.is(r.status, 0, output(r));
  t.false(output(r).includes(goodEnv.TELEGRAM_BOT_TOKEN), 'the token is never printed');
  const text = readFileSync(out, 'utf8');
  t.false(/^[^#]*TELEGRAM_BOT_TOKEN_PLACEHOLDER/m.test(text));
  t.false(text.includes('chat_id: -1000000000000'));
  const config = parse(text);
  for (const receiver of config.receivers.filter((x: any) => x.telegram_configs)) {
    t.like(receiver.telegram_configs[0], { bot_token: goodEnv.TELEGRAM_BOT_TOKEN, chat_id: -1001234567890, api_url: 'http://127.0.0.1:18080' });
  }
  t.is(statSync(out).mode & 0o777, 0o600, 'the rendered file holds a secret');
  t.deepEqual(templateFiles(out), [join(dir, 'nested', 'templates', 'telegram.tmpl')]);
  t.is(readFileSync(join(dir, 'nested', 'templates', 'telegram.tmpl'), 'utf8'), readFileSync(join(amDir, 'templates', 'telegram.tmpl'), 'utf8'));
  const check = run('amtool', ['check-config', out]);
  t.is(check.status, 0, output(check));

  // Without TELEGRAM_API_URL, the real API stays.
  const second = join(dir, 'default.yml');
  t.is(render(second, goodEnv).status, 0);
  t.true(readFileSync(second, 'utf8').includes('api_url: https://api.telegram.org\n'));
});

const refusals: [string, Record<string, string | undefined>, RegExp][] = [
  ['no token', { ...goodEnv, TELEGRAM_BOT_TOKEN: undefined }, /TELEGRAM_BOT_TOKEN is not set/],
  ['an empty token', { ...goodEnv, TELEGRAM_BOT_TOKEN: '' }, /TELEGRAM_BOT_TOKEN is not set/],
  ['a token without its id', { ...goodEnv, TELEGRAM_BOT_TOKEN: 'AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw' }, /TELEGRAM_BOT_TOKEN is malformed/],
  ['a token with a non-numeric id', { ...goodEnv, TELEGRAM_BOT_TOKEN: 'bot12:AAHdqTcv' }, /TELEGRAM_BOT_TOKEN is malformed/],
  ['a token with spaces', { ...goodEnv, TELEGRAM_BOT_TOKEN: '12345:AAH dqTcv' }, /TELEGRAM_BOT_TOKEN is malformed/],
  ['a token with a newline', { ...goodEnv, TELEGRAM_BOT_TOKEN: '12345:AAH\nbot_token: x' }, /TELEGRAM_BOT_TOKEN is malformed/],
  ['a token with sed metacharacters', { ...goodEnv, TELEGRAM_BOT_TOKEN: '12345:AA|H&x' }, /TELEGRAM_BOT_TOKEN is malformed/],
  ['no chat id', { ...goodEnv, TELEGRAM_CHAT_ID: undefined }, /TELEGRAM_CHAT_ID is not set/],
  ['a quoted chat id', { ...goodEnv, TELEGRAM_CHAT_ID: '"-100123"' }, /TELEGRAM_CHAT_ID is malformed/],
  ['a chat name', { ...goodEnv, TELEGRAM_CHAT_ID: '@product_store_alerts' }, /TELEGRAM_CHAT_ID is malformed/],
  ['a chat id of 0', { ...goodEnv, TELEGRAM_CHAT_ID: '0' }, /TELEGRAM_CHAT_ID is malformed/],
  ['the placeholder chat id', { ...goodEnv, TELEGRAM_CHAT_ID: '-1000000000000' }, /TELEGRAM_CHAT_ID is still the placeholder/],
  ['an API URL without a scheme', { ...goodEnv, TELEGRAM_API_URL: 'api.telegram.org' }, /TELEGRAM_API_URL is malformed/],
  ['an API URL with a query', { ...goodEnv, TELEGRAM_API_URL: 'http://x/?a=1&b=2' }, /TELEGRAM_API_URL is malformed/],
];
for (const [what, env, message] of refusals) {
  test(`render.sh refuses ${what}, and writes nothing`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'am-render-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'alertmanager.yml');
    const r = render(out, env);
    t.is(r.status, 1, output(r));
    t.regex(r.stderr, message);
    t.false(existsSync(out));
    if (env.TELEGRAM_BOT_TOKEN) t.false(r.stderr.includes(env.TELEGRAM_BOT_TOKEN), 'the token is never printed');
  });
}

test('render.sh refuses bad usage, a rendered input and overwriting its input', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'am-render-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...goodEnv };
  const usage = run('sh', [renderScript, amConfigPath], { env });
  t.is(usage.status, 2);
  t.regex(usage.stderr, /usage: .*render\.sh <input alertmanager\.yml> <output file>/);
  const missing = run('sh', [renderScript, join(dir, 'nope.yml'), join(dir, 'out.yml')], { env });
  t.is(missing.status, 1);
  t.regex(missing.stderr, /is not a file/);
  const first = join(dir, 'first.yml');
  t.is(run('sh', [renderScript, amConfigPath, first], { env }).status, 0);
  const again = run('sh', [renderScript, first, join(dir, 'second.yml')], { env });
  t.is(again.status, 1);
  t.regex(again.stderr, /already rendered/);
  const self = run('sh', [renderScript, amConfigPath, amConfigPath], { env });
  t.is(self.status, 1);
  t.regex(self.stderr, /would overwrite the input/);
});

// --- end to end: Alertmanager, rendered, against a fake Telegram ----------------------------------

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

interface TelegramCall {
  path: string;
  body: Record<string, string>;
}

test('Alertmanager, rendered by render.sh, inhibits symptoms and sends critical alerts to Telegram as HTML', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'am-e2e-'));
  let alertmanager: ChildProcess | undefined;
  let fake: Server | undefined;
  t.teardown(async () => {
    if (alertmanager && alertmanager.exitCode === null) {
      alertmanager.kill('SIGTERM');
      await new Promise((ok) => alertmanager!.once('exit', ok));
    }
    await new Promise((ok) => (fake ? fake.close(ok) : ok(undefined)));
    rmSync(dir, { recursive: true, force: true });
  });

  // The fake Telegram Bot API: records every call and answers like Telegram.
  const calls: TelegramCall[] = [];
  fake = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      let body: Record<string, string> = {};
      try {
        body = JSON.parse(raw);
      } catch {
        body = Object.fromEntries(new URLSearchParams(raw));
      }
      calls.push({ path: req.url ?? '', body });
      res.setHeader('Content-Type', 'application/json');
      if (req.url?.endsWith('/getMe')) {
        res.end(JSON.stringify({ ok: true, result: { id: 123456789, is_bot: true, first_name: 'Product Store', username: 'product_store_bot' } }));
        return;
      }
      res.end(JSON.stringify({ ok: true, result: { message_id: calls.length, date: Math.floor(Date.now() / 1000), chat: { id: Number(body.chat_id), type: 'supergroup' }, text: body.text } }));
    });
  });
  await new Promise<void>((ok) => fake!.listen(0, '127.0.0.1', ok));
  const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;

  const configPath = join(dir, 'config', 'alertmanager.yml');
  const rendered = render(configPath, { ...goodEnv, TELEGRAM_API_URL: fakeUrl });
  t.is(rendered.status, 0, output(rendered));

  const port = await freePort();
  const amUrl = `http://127.0.0.1:${port}`;
  mkdirSync(join(dir, 'data'));
  let log = '';
  // Started from another directory: the templates must resolve against the configuration file.
  alertmanager = spawn('prometheus-alertmanager', [`--config.file=${configPath}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=debug'], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  alertmanager.on('error', (err) => (log += `\n${err.message}: ${install}`));
  alertmanager.stdout!.on('data', (c) => (log += c));
  alertmanager.stderr!.on('data', (c) => (log += c));
  const readyBy = Date.now() + 20_000;
  for (;;) {
    const ready = await fetch(`${amUrl}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > readyBy || alertmanager.exitCode !== null) throw new Error(`Alertmanager did not start:\n${log}`);
    await sleep(200);
  }

  const startsAt = new Date().toISOString();
  const alert = (labels: Record<string, string>, extra: Record<string, string> = {}) => ({
    labels,
    annotations: { summary: `${labels.alertname} on ${labels.job ?? 'all'}`, description: `details of ${labels.alertname}`, runbook_url: runbook(labels.alertname.toLowerCase()), ...extra },
    startsAt,
  });
  const posted = await fetch(`${amUrl}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify([
      alert({ alertname: 'ServiceDown', job: 'order-service', instance: 'order-service:8002', severity: 'critical' }, { description: 'order-service <down> & "unreachable"' }),
      alert({ alertname: 'EventLoopLagHigh', job: 'order-service', instance: 'order-service:8002', severity: 'warning' }),
      alert({ alertname: 'EventLoopLagHigh', job: 'backend', instance: 'backend:8000', severity: 'warning' }),
      alert({ alertname: 'CassandraDown', job: 'cassandra', instance: 'cassandra:7070', severity: 'critical' }),
      alert({ alertname: 'CassandraHighLatency', job: 'cassandra', instance: 'cassandra:7070', operation: 'Read', severity: 'warning' }),
      alert({ alertname: 'HighCPUUsage', job: 'cassandra', instance: 'cassandra:7070', severity: 'warning' }),
      alert({ alertname: 'HighCPUUsage', job: 'backend', instance: 'backend:8000', severity: 'warning' }),
      alert({ alertname: 'HighErrorRate', job: 'backend', severity: 'critical' }),
      alert({ alertname: 'HighMemoryUsage', job: 'user-service', instance: 'user-service:8003', severity: 'critical' }),
      alert({ alertname: 'HighMemoryUsage', job: 'user-service', instance: 'user-service:8003', severity: 'warning' }),
      alert({ alertname: 'HighMemoryUsage', job: 'cart-service', instance: 'cart-service:8001', severity: 'warning' }),
      alert({ alertname: 'Watchdog', severity: 'none' }),
    ]),
  });
  t.is(posted.status, 200, await posted.text());

  // Inhibitions, as Alertmanager's API reports them.
  const listed = (await (await fetch(`${amUrl}/api/v2/alerts`)).json()) as { labels: Record<string, string>; status: { state: string } }[];
  const state = (name: string, job: string | undefined, severity: string) =>
    listed.find((a) => a.labels.alertname === name && a.labels.job === job && a.labels.severity === severity)?.status.state;
  const expectations: [string, string | undefined, string, 'active' | 'suppressed', string][] = [
    ['ServiceDown', 'order-service', 'critical', 'active', 'the cause'],
    ['EventLoopLagHigh', 'order-service', 'warning', 'suppressed', 'ServiceDown inhibits its own job'],
    ['EventLoopLagHigh', 'backend', 'warning', 'active', 'ServiceDown inhibits only its own job'],
    ['CassandraDown', 'cassandra', 'critical', 'active', 'the cause'],
    ['CassandraHighLatency', 'cassandra', 'warning', 'suppressed', 'CassandraDown inhibits the Cassandra alerts'],
    ['HighCPUUsage', 'cassandra', 'warning', 'suppressed', 'CassandraDown inhibits every alert of job cassandra'],
    ['HighCPUUsage', 'backend', 'warning', 'active', 'CassandraDown does not inhibit a service\'s CPU'],
    ['HighErrorRate', 'backend', 'critical', 'suppressed', 'CassandraDown inhibits the services\' error rate'],
    ['HighMemoryUsage', 'user-service', 'critical', 'active', 'the critical one'],
    ['HighMemoryUsage', 'user-service', 'warning', 'suppressed', 'critical inhibits warning of the same alertname and job'],
    ['HighMemoryUsage', 'cart-service', 'warning', 'active', 'only of the same job'],
    ['Watchdog', undefined, 'none', 'active', 'never inhibited'],
  ];
  for (const [name, job, severity, expected, why] of expectations) t.is(state(name, job, severity), expected, `${name} ${job} ${severity}: ${why}`);

  // Watchdog goes to the watchdog receiver.
  const groups = (await (await fetch(`${amUrl}/api/v2/alerts/groups`)).json()) as { receiver: { name: string }; alerts: { labels: Record<string, string> }[] }[];
  t.is(groups.find((g) => g.alerts.some((a) => a.labels.alertname === 'Watchdog'))?.receiver.name, 'watchdog');

  // After the critical route's group_wait (10s): one message per active critical group, nothing else.
  const messages = () => calls.filter((c) => c.path.endsWith('/sendMessage'));
  const deadline = Date.now() + 40_000;
  while (messages().length < 3 && Date.now() < deadline) await sleep(250);
  await sleep(1_500);
  const sent = messages();
  t.is(sent.length, 3, `Telegram got ${sent.length} messages:\n${sent.map((m) => m.body.text).join('\n---\n')}\n${log}`);
  for (const m of sent) {
    t.is(m.path, `/bot${goodEnv.TELEGRAM_BOT_TOKEN}/sendMessage`);
    t.is(String(m.body.chat_id), goodEnv.TELEGRAM_CHAT_ID);
    t.is(m.body.parse_mode, 'HTML');
  }
  const headline = (m: TelegramCall) => /<b>FIRING<\/b> <b>(\w+)<\/b>/.exec(m.body.text)?.[1];
  t.deepEqual(sent.map(headline).sort(), ['CassandraDown', 'HighMemoryUsage', 'ServiceDown']);
  const serviceDown = sent.find((m) => headline(m) === 'ServiceDown')!.body.text;
  t.true(serviceDown.startsWith('🔥 <b>FIRING</b> <b>ServiceDown</b>'), serviceDown);
  t.true(serviceDown.includes('<b>Job:</b> <code>order-service</code>'), serviceDown);
  t.true(serviceDown.includes('<b>Instance:</b> <code>order-service:8002</code>'), serviceDown);
  t.true(serviceDown.includes('order-service &lt;down&gt; &amp; &#34;unreachable&#34;'), serviceDown);
  t.true(serviceDown.includes(`<a href="${runbook('servicedown')}">Runbook</a>`), serviceDown);
});
