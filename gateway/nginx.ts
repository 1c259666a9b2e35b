/**
 * The gateway's nginx configuration, rendered from the topology (routes, limits, ports) for each way
 * the stack runs. compose/nginx/*.conf are this function's output (committed, drift-tested); the local
 * stack renders its own copy with local addresses.
 */
import { gatewayLimits, gatewayRewrites, gatewayRoutes, gatewayUpstream, infrastructure, services, type ServiceName } from '../services/kit/src/topology';

export interface GatewayTarget {
  /** Port of the public HTTP server. */
  listen: number;
  /** Where stub_status answers for the metrics exporter, e.g. `127.0.0.1:8081` or `8081` (never public). */
  statusListen: string;
  /**
   * `host:port` of each replica of a service, or one name that resolves to all of them (nginx makes a
   * server of every address a name has when it loads; compose gives every replica the service's name).
   */
  upstream(service: ServiceName): string | readonly string[];
  /**
   * Where the services reach a service through nginx (`127.0.0.1:8100`), for a stack without a DNS
   * name or Service in front of the replicas (the local one): every path, internal ones included.
   */
  internalListen?(service: ServiceName): string;
  accessLog: string;
  errorLog: string;
  pidFile: string;
  /** HTTPS on `listen` 443 with a certbot-managed certificate; plain HTTP then only redirects. */
  tls?: { listen: number; certificate: string; certificateKey: string };
  /** Webroot for certbot's HTTP-01 challenges (served on the HTTP server). */
  acmeWebroot?: string;
  /** For a non-containerized run: where nginx may write its temporary files. */
  tempDir?: string;
}

const problemBody = (status: number, code: string, title: string, detail: string) =>
  JSON.stringify({ type: `https://product-store.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`, title, status, detail, code });

/** Problem+json answers for what nginx itself refuses. */
const gatewayErrors: Array<{ status: number; code: string; title: string; detail: string }> = [
  { status: 403, code: 'FORBIDDEN', title: 'Forbidden', detail: 'This method is not allowed here.' },
  { status: 404, code: 'NOT_FOUND', title: 'Not found', detail: 'No such resource.' },
  { status: 413, code: 'PAYLOAD_TOO_LARGE', title: 'Payload too large', detail: `Request bodies are limited to ${gatewayLimits.maxBodyKilobytes * 1024} bytes.` },
  { status: 429, code: 'RATE_LIMITED', title: 'Too many requests', detail: 'Slow down and retry shortly.' },
  { status: 502, code: 'SERVICE_UNAVAILABLE', title: 'Service unavailable', detail: 'The service is unavailable; try again shortly.' },
  { status: 503, code: 'SERVICE_UNAVAILABLE', title: 'Service unavailable', detail: 'The service is unavailable; try again shortly.' },
  { status: 504, code: 'SERVICE_UNAVAILABLE', title: 'Service unavailable', detail: 'The service did not answer in time; try again shortly.' },
];

/** Headers on every answer. add_header in a location replaces the server's, so each location repeats them. */
function commonHeaders(tls: boolean): string[] {
  return [
    'add_header X-Request-Id $req_id always;',
    'add_header X-Content-Type-Options "nosniff" always;',
    'add_header X-Frame-Options "DENY" always;',
    'add_header Referrer-Policy "no-referrer" always;',
    `add_header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" always;`,
    'add_header Cross-Origin-Resource-Policy "same-origin" always;',
    ...(tls ? ['add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;'] : []),
  ];
}

const upstreamName = (service: ServiceName) => service.replace(/-/g, '_');

const duration = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

function addresses(target: GatewayTarget, service: ServiceName): readonly string[] {
  const found = target.upstream(service);
  const list = typeof found === 'string' ? [found] : found;
  if (!list.length) throw new Error(`no address for ${service}`);
  return list;
}

function proxyTo(service: ServiceName, uri = ''): string[] {
  return [`proxy_pass http://${upstreamName(service)}${uri};`];
}

function locations(tls: boolean): string[] {
  const headers = commonHeaders(tls);
  const block = (match: string, body: string[]) => [`location ${match} {`, ...[...body, ...headers].map((l) => `    ${l}`), '}'];
  const out: string[] = [];
  out.push('# The gateway\'s own paths: the guide\'s "Nginx+Backend" check (backend readiness) and the API document.');
  for (const rewrite of gatewayRewrites) {
    out.push(...block(`= ${rewrite.path}`, ['limit_except GET { deny all; }', ...proxyTo(rewrite.service, rewrite.upstreamPath)]));
  }
  for (const route of gatewayRoutes) {
    const limit =
      route.rateLimit === 'auth'
        ? `limit_req zone=auth burst=${gatewayLimits.authBurst} nodelay;`
        : `limit_req zone=api burst=${gatewayLimits.apiBurst} nodelay;`;
    out.push(...block(route.match === 'exact' ? `= ${route.path}` : route.path, [limit, ...proxyTo(route.service)]));
  }
  out.push('# Anything else, including /metrics, /ready and the services\' /internal/ endpoints: 404.');
  out.push(...block('/', ['return 404;']));
  for (const e of gatewayErrors) {
    out.push(...block(`@error_${e.status}`, ['default_type application/problem+json;', `return ${e.status} '${problemBody(e.status, e.code, e.title, e.detail)}';`]));
  }
  return out;
}

const indent = (lines: string[], by = 4) => lines.map((l) => (l ? `${' '.repeat(by)}${l}` : l));

export function renderNginx(target: GatewayTarget): string {
  const serverCommon = [
    'server_tokens off;',
    ...gatewayErrors.map((e) => `error_page ${e.status} = @error_${e.status};`),
  ];
  const http = [
    'include /etc/nginx/mime.types;',
    'default_type application/octet-stream;',
    '',
    "log_format json escape=json '{\"time\":\"$time_iso8601\",\"request_id\":\"$req_id\",\"remote_addr\":\"$remote_addr\",'",
    "    '\"method\":\"$request_method\",\"uri\":\"$uri\",\"status\":$status,\"bytes\":$body_bytes_sent,'",
    "    '\"duration_s\":$request_time,\"upstream\":\"$upstream_addr\",\"upstream_status\":\"$upstream_status\",'",
    "    '\"upstream_connect_s\":\"$upstream_connect_time\",\"user_agent\":\"$http_user_agent\"}';",
    `access_log ${target.accessLog} json;`,
    '',
    '# The client\'s request id when it is sane, else nginx\'s own; the services log it and echo it.',
    'map $http_x_request_id $req_id {',
    '    "~^[A-Za-z0-9._:-]{8,128}$" $http_x_request_id;',
    '    default $request_id;',
    '}',
    '',
    'sendfile on;',
    'keepalive_timeout 65s;',
    `client_max_body_size ${gatewayLimits.maxBodyKilobytes}k;`,
    '# Bodies fit in memory: nothing is written to temporary files.',
    `client_body_buffer_size ${gatewayLimits.maxBodyKilobytes}k;`,
    'proxy_max_temp_file_size 0;',
    ...(target.tempDir
      ? ['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path'].map((d) => `${d} ${target.tempDir}/${d.replace('_path', '')};`)
      : []),
    '',
    'gzip on;',
    'gzip_types application/json application/problem+json;',
    'gzip_min_length 256;',
    'gzip_proxied any;',
    'gzip_vary on;',
    '',
    `limit_req_zone $binary_remote_addr zone=auth:10m rate=${gatewayLimits.authRatePerMinute}r/m;`,
    `limit_req_zone $binary_remote_addr zone=api:20m rate=${gatewayLimits.apiRatePerSecond}r/s;`,
    'limit_req_status 429;',
    '',
    `# Keep-alive to the services: nginx drops an idle connection after ${gatewayUpstream.keepaliveTimeoutSeconds} s, long before the services would (65 s),`,
    '# so nginx never sends a request on a connection the service is closing; a draining service waits',
    '# that long before it closes idle connections (services/kit/src/drain.ts).',
    'proxy_http_version 1.1;',
    'proxy_set_header Connection "";',
    'proxy_set_header Host $host;',
    'proxy_set_header X-Request-Id $req_id;',
    'proxy_set_header X-Real-IP $remote_addr;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_hide_header X-Request-Id;',
    `proxy_connect_timeout ${duration(gatewayUpstream.connectTimeoutMs)};`,
    'proxy_read_timeout 30s;',
    'proxy_send_timeout 30s;',
    '# Problem+json from the services passes through; only nginx\'s own errors use the pages below.',
    'proxy_intercept_errors off;',
    '# A replica that refuses the connection, times out or answers 502: the request goes to the next one.',
    '# A 503 is the service\'s own answer (a dependency is away, with Retry-After): retried on the other',
    '# replica it meets the same dependency and would mark both failed, so it goes to the client as it is.',
    '# nginx never retries a POST or PATCH it has already sent (its default, kept on purpose: it cannot know',
    '# that POST /orders carries an Idempotency-Key); a refused connection sent nothing and is retried for',
    '# every method. A replica that fails is skipped for fail_timeout (passive health: OSS nginx has no active checks).',
    'proxy_next_upstream error timeout http_502;',
    `proxy_next_upstream_tries ${gatewayUpstream.tries};`,
    '',
    '# Every replica of each service. Names resolve when nginx (re)loads, to every address they have:',
    '# reload nginx after a container is recreated (scripts/rolling-update.sh does). The zone shares the',
    '# replicas\' failure state between the worker processes.',
    ...services.flatMap((s) => [
      `upstream ${upstreamName(s.name)} {`,
      `    zone ${upstreamName(s.name)} 64k;`,
      ...addresses(target, s.name).map((a) => `    server ${a} max_fails=${gatewayUpstream.maxFails} fail_timeout=${gatewayUpstream.failTimeoutSeconds}s;`),
      `    keepalive ${gatewayUpstream.keepaliveConnections};`,
      `    keepalive_timeout ${gatewayUpstream.keepaliveTimeoutSeconds}s;`,
      '}',
    ]),
    '',
  ];

  const acme = target.acmeWebroot ? [`location /.well-known/acme-challenge/ {`, `    root ${target.acmeWebroot};`, '}'] : [];
  const servers: string[] = [];
  if (target.tls) {
    servers.push(
      'server {',
      ...indent([`listen ${target.listen};`, 'server_tokens off;', ...acme, 'location / {', '    return 301 https://$host$request_uri;', '}']),
      '}',
      '',
      'server {',
      ...indent([
        `listen ${target.tls.listen} ssl http2;`,
        `ssl_certificate ${target.tls.certificate};`,
        `ssl_certificate_key ${target.tls.certificateKey};`,
        'ssl_protocols TLSv1.2 TLSv1.3;',
        'ssl_prefer_server_ciphers off;',
        'ssl_session_cache shared:tls:10m;',
        'ssl_session_timeout 1d;',
        'ssl_session_tickets off;',
        ...serverCommon,
        '',
        ...locations(true),
      ]),
      '}',
    );
  } else {
    servers.push('server {', ...indent([`listen ${target.listen};`, ...serverCommon, ...acme, '', ...locations(false)]), '}');
  }
  if (target.internalListen) {
    servers.push(
      '',
      '# Service-to-service calls (BACKEND_URL, CART_SERVICE_URL): the same replicas and retries, every path,',
      '# no client limits; on the loopback address only.',
    );
    for (const s of services) {
      servers.push('server {', ...indent([`listen ${target.internalListen(s.name)};`, 'server_tokens off;', 'location / {', `    proxy_pass http://${upstreamName(s.name)};`, '}']), '}');
    }
  }
  servers.push(
    '',
    '# stub_status for the Prometheus exporter: on its own port, never published.',
    'server {',
    ...indent([`listen ${target.statusListen};`, 'access_log off;', 'location = /stub_status {', '    stub_status;', '}', 'location / {', '    return 404;', '}']),
    '}',
  );

  return [
    `# Generated by gateway/nginx.ts from the topology; do not edit by hand.`,
    'worker_processes auto;',
    `pid ${target.pidFile};`,
    `error_log ${target.errorLog} warn;`,
    '',
    'events {',
    '    worker_connections 4096;',
    '}',
    '',
    'http {',
    ...indent([...http, ...servers]),
    '}',
    '',
  ].join('\n');
}

/**
 * The compose deployment: services by their compose names, logs to the container's output. Every
 * replica of a service carries the service's name on the network (compose/generate.ts), so the one
 * name stands for all of them.
 */
export function composeTarget(options: { tls: boolean }): GatewayTarget {
  return {
    listen: infrastructure.nginx.containerPort,
    statusListen: String(infrastructure.nginx.statusPort),
    upstream: (name) => `${name}:${services.find((s) => s.name === name)!.port}`,
    accessLog: '/dev/stdout',
    errorLog: 'stderr',
    pidFile: '/tmp/nginx.pid',
    acmeWebroot: '/var/www/certbot',
    tempDir: '/tmp',
    ...(options.tls
      ? { tls: { listen: infrastructure.nginx.containerTlsPort, certificate: '/etc/letsencrypt/live/product-store/fullchain.pem', certificateKey: '/etc/letsencrypt/live/product-store/privkey.pem' } }
      : {}),
  };
}
