import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { gatewayRoutes, gatewayUpstream, localInternalPort, replicasOf, services } from '@product-store/deploy';
import { composeTarget, renderNginx } from '../nginx';

const repoRoot = join(__dirname, '..', '..');

const work = mkdtempSync(join(tmpdir(), 'nginx-test-'));
const composeHosts = ['backend', 'cart-service', 'order-service', 'user-service', 'storefront'];

/** `nginx -t` in a mount namespace whose /etc/hosts resolves the compose service names to 127.0.0.1. */
function nginxTest(config: string): { status: number | null; output: string } {
  const hosts = join(work, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost ${composeHosts.join(' ')}\n`);
  const file = join(work, `nginx-${Math.random().toString(16).slice(2)}.conf`);
  // /dev/stdout is the container's log stream; under the test runner it may be a socket nginx cannot open.
  writeFileSync(file, config.replace('access_log /dev/stdout', `access_log ${join(work, 'access.log')}`));
  // As root a plain mount namespace; otherwise a user namespace that maps the caller to root.
  const namespace = process.getuid?.() === 0 ? '-m' : '-rm';
  const run = spawnSync('unshare', [namespace, 'sh', '-c', `mount --bind ${hosts} /etc/hosts && nginx -t -q -c ${file} -p ${work}`], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}${run.error?.message ?? ''}` };
}

test('the committed compose configurations are what the topology renders (run `npm run generate`)', (t) => {
  t.is(readFileSync(join(repoRoot, 'compose', 'nginx', 'nginx.conf'), 'utf8'), renderNginx(composeTarget({ tls: false })));
  t.is(readFileSync(join(repoRoot, 'compose', 'nginx', 'nginx-tls.conf'), 'utf8'), renderNginx(composeTarget({ tls: true })));
});

test('nginx -t accepts the compose configuration', (t) => {
  const result = nginxTest(readFileSync(join(repoRoot, 'compose', 'nginx', 'nginx.conf'), 'utf8').replace('/tmp/nginx.pid', join(work, 'nginx.pid')));
  t.is(result.status, 0, result.output);
});

test('nginx -t accepts the TLS configuration with a certificate in place', (t) => {
  const certs = join(work, 'certs');
  mkdirSync(certs, { recursive: true });
  const openssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(certs, 'privkey.pem'), '-out', join(certs, 'fullchain.pem')], { encoding: 'utf8' });
  t.is(openssl.status, 0, openssl.stderr);
  const target = composeTarget({ tls: true });
  const config = renderNginx({ ...target, pidFile: join(work, 'tls.pid'), tls: { ...target.tls!, certificate: join(certs, 'fullchain.pem'), certificateKey: join(certs, 'privkey.pem') } });
  const result = nginxTest(config);
  t.is(result.status, 0, result.output);
  const committed = readFileSync(join(repoRoot, 'compose', 'nginx', 'nginx-tls.conf'), 'utf8');
  t.regex(committed, /listen 8443 ssl http2;/);
  t.regex(committed, /ssl_certificate \/etc\/letsencrypt\/live\/product-store\/fullchain\.pem;/);
  t.regex(committed, /return 301 https:\/\/\$host\$request_uri;/);
  t.regex(committed, /location \/\.well-known\/acme-challenge\//);
  t.regex(committed, /Strict-Transport-Security/);
});

test('every route of the topology is in the configuration, with the limits', (t) => {
  const config = readFileSync(join(repoRoot, 'compose', 'nginx', 'nginx.conf'), 'utf8');
  for (const route of gatewayRoutes) {
    t.true(config.includes(`location ${route.match === 'exact' ? '= ' : ''}${route.path} {`), route.path);
  }
  for (const s of services) t.true(config.includes(`server ${s.name}:${s.port} max_fails=${gatewayUpstream.maxFails} fail_timeout=${gatewayUpstream.failTimeoutSeconds}s;`), s.name);
  t.regex(config, /client_max_body_size 64k;/);
  t.regex(config, /limit_req_status 429;/);
  t.regex(config, /keepalive 32;/);
  t.regex(config, /proxy_set_header Connection "";/);
  t.regex(config, /gzip_types application\/json application\/problem\+json;/);
  t.notRegex(config, /location [^{]*\/(metrics|ready|internal)/);
});

test('replicas: every one is a server of its service\'s upstream; idempotent requests go to the next one, a POST only when nothing was sent', (t) => {
  const config = readFileSync(join(repoRoot, 'compose', 'nginx', 'nginx.conf'), 'utf8');
  t.regex(config, /proxy_next_upstream error timeout http_502;/);
  t.notRegex(config, /non_idempotent/, 'nginx never resends a POST or PATCH it has sent');
  t.true(config.includes(`proxy_next_upstream_tries ${gatewayUpstream.tries};`));
  t.regex(config, /proxy_connect_timeout 1s;/);
  for (const s of services) {
    const upstream = new RegExp(`upstream ${s.name.replace(/-/g, '_')} \\{([^}]*)\\}`).exec(config)?.[1] ?? '';
    t.true(upstream.includes(`zone ${s.name.replace(/-/g, '_')} `), `${s.name}: failures are seen by every worker`);
    t.true(upstream.includes(`keepalive_timeout ${gatewayUpstream.keepaliveTimeoutSeconds}s;`), s.name);
  }
  // The services keep idle connections far longer than nginx does (services/kit/src/service.ts: 65 s).
  t.true(gatewayUpstream.keepaliveTimeoutSeconds * 1000 + gatewayUpstream.drainMarginMs < 65_000);

  // The local stack: each replica by its port, and a listener per service for the calls between services.
  const local = renderNginx({
    ...composeTarget({ tls: false }),
    upstream: (name) => replicasOf(name).map((r) => `127.0.0.1:${r.localPort}`),
    internalListen: (name) => `127.0.0.1:${localInternalPort(name)}`,
    accessLog: join(work, 'local-access.log'),
    pidFile: join(work, 'local.pid'),
  });
  for (const s of services) {
    for (const r of replicasOf(s.name)) t.true(local.includes(`server 127.0.0.1:${r.localPort} max_fails=`), r.name);
    t.regex(local, new RegExp(`listen 127\\.0\\.0\\.1:${localInternalPort(s.name)};\\s+server_tokens off;\\s+location / \\{\\s+proxy_pass http://${s.name.replace(/-/g, '_')};`));
  }
  t.deepEqual(replicasOf('backend').map((r) => [r.name, r.localPort]), [['backend', 8000], ['backend-2', 8010]]);
  const result = nginxTest(local);
  t.is(result.status, 0, result.output);
});
