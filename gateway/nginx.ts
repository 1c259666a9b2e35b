/**
 * The gateway's nginx configuration, rendered from the topology (routes, limits, ports) for each way
 * the stack runs. compose/nginx/*.conf are this function's output (committed, drift-tested); the local
 * stack renders its own copy with local addresses.
 */
import { INTERNAL_TOKEN_HEADER, refusedPath, wholeApi } from '@product-store/kit';
import { gatewayLimits, gatewayRewrites, gatewayRoutes, gatewayUpstream, infrastructure, services, type ServiceName } from '@product-store/deploy';

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
  /**
   * Who may tell nginx the client's address in X-Forwarded-For: the addresses (or CIDRs) of the load
   * balancers in front of it. Absent or empty: nobody, every client is its TCP peer (the default). A
   * list is written into the configuration; `{ include }` names a file nginx reads at start, which
   * gateway/trusted-proxies.sh writes from TRUSTED_PROXIES (compose: one setting, no regeneration).
   */
  trustedProxies?: readonly string[] | { include: string };
  /**
   * The built storefront (storefront/build.ts: a folder with index.html and assets/) that nginx serves
   * at `/`. Absent: `/` is a 404 like every path nginx does not route.
   */
  storefront?: string;
  /**
   * Where the storefront image's own nginx listens (`storefront:8080`, compose): nginx proxies `/` to
   * it instead of reading a folder, with the same headers and refusals as `storefront`. Its own answers
   * that are errors (404, 405) become nginx's problem+json pages. Exclusive with `storefront`.
   */
  storefrontUpstream?: string;
  /**
   * With `storefrontUpstream`: the DNS server nginx asks for the storefront's name at request time
   * (compose: Docker's, 127.0.0.11), how long it keeps an answer, and how long it waits for one.
   * Without it the name is resolved once, when nginx loads, like the services' (a test with an
   * address instead of a name).
   */
  resolver?: { address: string; validSeconds: number; timeoutSeconds: number };
}

/** The services' problem body (services/kit/src/errors.ts, HttpProblem.body()); `detail` may hold nginx variables. */
const problemBody = (status: number, code: string, title: string, detail: string) =>
  JSON.stringify({ type: `https://product-store.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`, title, status, detail, code });

interface GatewayError {
  status: number;
  code: string;
  title: string;
  detail: string;
  /** nginx's own codes answered with this problem (494: a request header or cookie too large). */
  alsoFor?: number[];
  /** Headers of the answer beyond the common ones. */
  headers?: string[];
  /**
   * Served from an internal URI rather than a named location: nginx cannot redirect a request whose
   * URI it could not parse (a bad or too long request line) to a named location, and answers 500.
   * A named location keeps the request's $uri, which the 405 and 429 pages read.
   */
  byUri?: boolean;
}

/**
 * Problem+json answers for what nginx itself refuses or cannot serve, in the services' shape. A
 * service's own error (its 503 with Retry-After included) passes through untouched: these pages
 * apply only to nginx's answers (`proxy_intercept_errors off`).
 */
const gatewayErrors: GatewayError[] = [
  { status: 400, code: 'BAD_REQUEST', title: 'Bad request', detail: 'The request is not valid HTTP.', byUri: true },
  { status: 403, code: 'FORBIDDEN', title: 'Forbidden', detail: 'This request is not allowed here.' },
  { status: 404, code: 'NOT_FOUND', title: 'Not found', detail: 'No such resource.' },
  // Allow: what the API document (or the gateway's own path) allows at that path, as the services answer.
  { status: 405, code: 'METHOD_NOT_ALLOWED', title: 'Method not allowed', detail: 'Allowed: $gateway_allow.', headers: ['add_header Allow $gateway_allow always;'] },
  { status: 413, code: 'PAYLOAD_TOO_LARGE', title: 'Payload too large', detail: `Request bodies are limited to ${gatewayLimits.maxBodyKilobytes * 1024} bytes.` },
  { status: 414, code: 'URI_TOO_LONG', title: 'URI too long', detail: 'The request URI is too long.', byUri: true },
  { status: 429, code: 'RATE_LIMITED', title: 'Too many requests', detail: 'Slow down and retry shortly.', headers: ['add_header Retry-After $gateway_retry_after always;'] },
  { status: 431, code: 'REQUEST_HEADER_TOO_LARGE', title: 'Request header fields too large', detail: 'A request header or the cookies are too large.', alsoFor: [494] },
  { status: 500, code: 'INTERNAL_ERROR', title: 'Internal server error', detail: 'An unexpected error occurred; it has been logged.' },
  { status: 502, code: 'SERVICE_UNAVAILABLE', title: 'Service unavailable', detail: 'The service is unavailable; try again shortly.', headers: ['add_header Retry-After 1 always;'] },
  { status: 503, code: 'SERVICE_UNAVAILABLE', title: 'Service unavailable', detail: 'The service is unavailable; try again shortly.', headers: ['add_header Retry-After 1 always;'] },
  { status: 504, code: 'SERVICE_UNAVAILABLE', title: 'Service unavailable', detail: 'The service did not answer in time; try again shortly.', headers: ['add_header Retry-After 1 always;'] },
];

const notFound = gatewayErrors.find((e) => e.status === 404)!;

/** Methods in the order the answers list them. */
const methodOrder = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * What each public path allows (the `Allow` of nginx's own 405s, e.g. to TRACE, which nginx refuses
 * on every path): the API document's operations, HEAD wherever GET is (as the services answer), and
 * GET and HEAD on the gateway's own paths. A path with a parameter becomes a regular expression.
 */
export function allowedMethods(): Array<{ path: string; regex: boolean; allow: string }> {
  const list = (methods: string[]) => {
    const upper = new Set(methods.map((m) => m.toUpperCase()));
    if (upper.has('GET')) upper.add('HEAD');
    return methodOrder.filter((m) => upper.has(m)).join(', ');
  };
  const out: Array<{ path: string; regex: boolean; allow: string }> = gatewayRewrites.map((r) => ({ path: r.path, regex: false, allow: list(['GET']) }));
  for (const [path, operations] of Object.entries(wholeApi.paths as Record<string, Record<string, unknown>>)) {
    const regex = path.includes('{');
    out.push({ path: regex ? `^${path.replace(/\{[^}]+\}/g, '[^/]+')}$` : path, regex, allow: list(Object.keys(operations)) });
  }
  return out;
}

/**
 * A request path the gateway refuses (404, as any path it does not route): nginx decodes and
 * normalizes a path to pick the route, but passes the path as the client sent it, and the services
 * do neither. So `/internal/carts/..%2F..%2Fcart` matched nginx's `/cart` and reached an internal
 * route. Refused in the raw path (the query is free): encoded dots, slashes and backslashes, dot
 * segments, empty segments (`//`), `;` parameters and backslashes. No public path has any of them.
 * The pattern lives in the kit (services/kit/src/paths.ts): every service refuses the same paths.
 */
export { refusedPath };

/** Headers on every answer. add_header in a location replaces the server's, so each location repeats them. */
function commonHeaders(tls: boolean, csp = apiCsp): string[] {
  return [
    'add_header X-Request-Id $req_id always;',
    'add_header X-Content-Type-Options "nosniff" always;',
    'add_header X-Frame-Options "DENY" always;',
    'add_header Referrer-Policy "no-referrer" always;',
    `add_header Content-Security-Policy "${csp}" always;`,
    'add_header Cross-Origin-Resource-Policy "same-origin" always;',
    ...(tls ? ['add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;'] : []),
  ];
}

/** The API's answers are data, never a page: nothing may load from them. */
const apiCsp = "default-src 'none'; frame-ancestors 'none'";
/**
 * The storefront's pages: its own script, stylesheet and API calls from this origin only; no inline
 * script or style, no eval, no plug-ins, no framing, forms post nowhere else.
 */
export const storefrontCsp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/**
 * The storefront's static files. A path that names no file is a 404 as before (so /metrics, /ready
 * and /internal/ stay unreachable), and the API routes are longer prefixes, which nginx prefers:
 * a file can never shadow one. index.html is revalidated on every visit; the assets carry a hash
 * of their content in their names, so they are cached for good.
 */
function storefrontLocations(root: string, tls: boolean, limit: string[] = []): string[] {
  const headers = commonHeaders(tls, storefrontCsp);
  const block = (match: string, body: string[]) => [`location ${match} {`, ...[...body, ...headers].map((l) => `    ${l}`), '}'];
  const common = [...limit, `root ${root};`, 'gzip_types text/css application/javascript;'];
  return [
    '# The storefront (storefront/build.ts); anything else, including /metrics, /ready and the services\' /internal/ endpoints: 404.',
    ...block('= /', [...common, 'try_files /index.html =404;', 'add_header Cache-Control "no-cache" always;']),
    ...block('/assets/', [...common, 'try_files $uri =404;', 'add_header Cache-Control "public, max-age=31536000, immutable" always;']),
    ...block('/', [...common, 'try_files $uri =404;', 'add_header Cache-Control "no-cache" always;']),
  ];
}

/** The gateway's upstream for the storefront image's nginx. */
const storefrontUpstreamName = 'storefront';

/**
 * The storefront behind a gateway (compose: the storefront image's nginx, renderStorefrontNginx()).
 * The answer carries the gateway's headers, exactly as a folder served here gets them: the upstream's
 * copies are hidden so that none is sent twice (two CSPs would both apply). Its errors are nginx's
 * problem+json pages here, as for a folder. A path not in normal form is refused before it is sent.
 */
function storefrontProxyLocations(tls: boolean, limit: string[], upstream: string, resolver: GatewayTarget['resolver']): string[] {
  const headers = commonHeaders(tls, storefrontCsp);
  // proxy_hide_header in a location replaces the http block's list: X-Request-Id is repeated.
  const hidden = ['X-Request-Id', 'Content-Security-Policy', 'X-Content-Type-Options', 'X-Frame-Options', 'Referrer-Policy', 'Cross-Origin-Resource-Policy', 'Strict-Transport-Security'];
  return [
    "# The storefront (the storefront image's nginx); anything it has no file for, including /metrics, /ready and the services' /internal/ endpoints: 404.",
    'location / {',
    ...[
      'if ($gateway_refused_path) {',
      '    return 404;',
      '}',
      ...limit,
      'proxy_intercept_errors on;',
      ...hidden.map((h) => `proxy_hide_header ${h};`),
      // With a resolver the name is looked up per request (a variable in proxy_pass), not once at
      // load: nginx starts, and the API answers, while the storefront is stopped or not yet created,
      // `/` is the 502 page meanwhile, and a recreated storefront (a new address) is found again
      // without a reload. No URI part: the request's own URI goes on, as with the upstream block.
      ...(resolver ? [`set $storefront ${upstream};`, 'proxy_pass http://$storefront;'] : [`proxy_pass http://${storefrontUpstreamName};`]),
      ...headers,
    ].map((l) => `    ${l}`),
    '}',
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

/**
 * A path that is not in normal form names no public resource ($gateway_refused_path): checked where
 * nginx proxies, since those pass the path on as the client sent it.
 */
function proxyTo(service: ServiceName, uri = ''): string[] {
  return ['if ($gateway_refused_path) {', '    return 404;', '}', `proxy_pass http://${upstreamName(service)}${uri};`];
}

/** A string in an nginx configuration: double-quoted, `"` and `\` escaped. */
const quoted = (value: string) => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** The API routes' limit: the storefront's files count against it too (one page is a few requests). */
const apiLimit = `limit_req zone=api burst=${gatewayLimits.apiBurst} nodelay;`;

function locations(tls: boolean, target: Pick<GatewayTarget, 'storefront' | 'storefrontUpstream' | 'resolver'>): string[] {
  const { storefront, storefrontUpstream } = target;
  const headers = commonHeaders(tls);
  const block = (match: string, body: string[]) => [`location ${match} {`, ...[...body, ...headers].map((l) => `    ${l}`), '}'];
  const out: string[] = [];
  out.push('# The gateway\'s own paths: the guide\'s "Nginx+Backend" check (backend readiness) and the API document.');
  for (const rewrite of gatewayRewrites) {
    out.push(...block(`= ${rewrite.path}`, ['if ($request_method !~ ^(GET|HEAD)$) {', '    return 405;', '}', ...proxyTo(rewrite.service, rewrite.upstreamPath)]));
  }
  for (const route of gatewayRoutes) {
    const limit =
      route.rateLimit === 'auth'
        ? `limit_req zone=auth burst=${gatewayLimits.authBurst} nodelay;`
        : apiLimit;
    out.push(...block(route.match === 'exact' ? `= ${route.path}` : route.path, [limit, ...proxyTo(route.service)]));
  }
  if (storefront) out.push(...storefrontLocations(storefront, tls, [apiLimit]));
  else if (storefrontUpstream) out.push(...storefrontProxyLocations(tls, [apiLimit], storefrontUpstream, target.resolver));
  else {
    out.push('# Anything else, including /metrics, /ready and the services\' /internal/ endpoints: 404.');
    out.push(...block('/', ['return 404;']));
  }
  out.push(...errorLocations(tls));
  return out;
}

/** The problem+json pages of nginx's own answers (`error_page` in errorPages()). */
function errorLocations(tls: boolean): string[] {
  const headers = commonHeaders(tls);
  const block = (match: string, body: string[]) => [`location ${match} {`, ...[...body, ...headers].map((l) => `    ${l}`), '}'];
  const out: string[] = [];
  for (const e of gatewayErrors) {
    const body = [
      // No type from the path's extension (/openapi.json): always problem+json.
      'types { }',
      'default_type application/problem+json;',
      // nginx refuses TRACE before it looks at the path: on a path it does not route, that is a 404.
      ...(e.status === 405 ? ['if ($gateway_allow = "") {', `    return 404 '${problemBody(404, notFound.code, notFound.title, notFound.detail)}';`, '}'] : []),
      ...(e.headers ?? []),
      `return ${e.status} '${problemBody(e.status, e.code, e.title, e.detail)}';`,
    ];
    out.push(...block(errorTarget(e).location, [...(e.byUri ? ['internal;'] : []), ...body]));
  }
  return out;
}

/**
 * The public side's request headers to the services. X-Forwarded-For and X-Real-IP carry nginx's
 * client address (after the trusted proxies' X-Forwarded-For, when there are any), replacing what the
 * client sent: a service that trusts its gateway (TRUSTED_PROXIES) reads that one address. A client's
 * X-Internal-Token is dropped: only the services' own calls carry one. proxy_set_header in a server
 * replaces the http block's, so this list repeats them.
 */
function publicProxyHeaders(): string[] {
  return [
    ...proxyHeaders(),
    'proxy_set_header X-Forwarded-Host $host;',
    `proxy_set_header ${INTERNAL_TOKEN_HEADER} "";`,
  ];
}

/** Request headers to the services on every listener (the internal ones keep X-Internal-Token). */
function proxyHeaders(): string[] {
  return [
    'proxy_set_header Connection "";',
    'proxy_set_header Host $host;',
    'proxy_set_header X-Request-Id $req_id;',
    'proxy_set_header X-Real-IP $remote_addr;',
    'proxy_set_header X-Forwarded-For $remote_addr;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
  ];
}

/** Where nginx's own answer with this problem is served from. */
function errorTarget(e: GatewayError): { location: string; page: string } {
  return e.byUri ? { location: `= /@gateway-error/${e.status}`, page: `/@gateway-error/${e.status}` } : { location: `@error_${e.status}`, page: `@error_${e.status}` };
}

const errorPages = () => gatewayErrors.flatMap((e) => [e.status, ...(e.alsoFor ?? [])].map((code) => `error_page ${code} = ${errorTarget(e).page};`));

/** The public servers' checks and pages, before their locations. */
function publicServerCommon(): string[] {
  return [
    'server_tokens off;',
    ...errorPages(),
    ...publicProxyHeaders(),
  ];
}

/** The maps the public servers read: refused paths, each path's methods, the wait after a 429. */
function publicMaps(storefront: boolean): string[] {
  const authPaths = gatewayRoutes.filter((r) => r.rateLimit === 'auth');
  if (authPaths.some((r) => r.match !== 'exact')) throw new Error('auth routes are exact paths');
  return [
    '# Paths nginx would normalize before routing but pass on as sent: encoded dots, slashes or',
    '# backslashes, dot segments, empty segments, `;` parameters (gateway/nginx.ts refusedPath).',
    'map $request_uri $gateway_refused_path {',
    `    ${quoted(`~*${refusedPath}`)} 1;`,
    '    default "";',
    '}',
    '',
    '# What a path allows, for the Allow of nginx\'s own 405 (the API document\'s operations).',
    'map $uri $gateway_allow {',
    ...allowedMethods().map((m) => `    ${quoted(m.regex ? `~${m.path}` : m.path)} ${quoted(m.allow)};`),
    // With the storefront every other path is its location `/`: a file there (any other path is
    // try_files' 404 first) is read with GET and HEAD only.
    `    default ${storefront ? '"GET, HEAD"' : '""'};`,
    '}',
    '',
    '# Seconds until the limit lets a request through again: one request\'s share of the rate.',
    'map $uri $gateway_retry_after {',
    ...authPaths.map((r) => `    ${quoted(r.path)} ${Math.ceil(60 / gatewayLimits.authRatePerMinute)};`),
    `    default ${Math.ceil(1 / gatewayLimits.apiRatePerSecond)};`,
    '}',
  ];
}

/** The request id nginx logs and passes on: the client's (or gateway's) when it is sane, else its own. */
const requestIdMap = ['map $http_x_request_id $req_id {', '    "~^[A-Za-z0-9._:-]{8,128}$" $http_x_request_id;', '    default $request_id;', '}'];

/** nginx's temporary files, all under `dir` (a read-only root elsewhere). */
const tempPaths = (dir: string) => ['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path'].map((d) => `${d} ${dir}/${d.replace('_path', '')};`);

/**
 * The client's address behind trusted load balancers: their X-Forwarded-For, read from the right and
 * skipping the trusted ones (real_ip_recursive), becomes $remote_addr, which the limits key on and
 * the access log shows. Without a trusted address nginx never reads the header.
 */
function realIp(trusted: GatewayTarget['trustedProxies']): string[] {
  const from = !trusted ? [] : 'include' in trusted ? [`include ${trusted.include};`] : trusted.map((a) => `set_real_ip_from ${a};`);
  return [
    '# Client addresses: X-Forwarded-For counts only from the trusted proxies (TRUSTED_PROXIES; none by default).',
    'real_ip_header X-Forwarded-For;',
    'real_ip_recursive on;',
    ...from,
  ];
}

const indent = (lines: string[], by = 4) => lines.map((l) => (l ? `${' '.repeat(by)}${l}` : l));

export function renderNginx(target: GatewayTarget): string {
  if (target.storefront && target.storefrontUpstream) throw new Error('the storefront is a folder or an upstream, not both');
  const serverCommon = publicServerCommon();
  const http = [
    'include /etc/nginx/mime.types;',
    'default_type application/octet-stream;',
    '',
    '# remote_addr: the client (behind a trusted proxy, the one it names); peer: who connected.',
    "log_format json escape=json '{\"time\":\"$time_iso8601\",\"request_id\":\"$req_id\",\"remote_addr\":\"$remote_addr\",\"peer\":\"$realip_remote_addr\",'",
    "    '\"method\":\"$request_method\",\"uri\":\"$uri\",\"status\":$status,\"bytes\":$body_bytes_sent,'",
    "    '\"duration_s\":$request_time,\"upstream\":\"$upstream_addr\",\"upstream_status\":\"$upstream_status\",'",
    "    '\"upstream_connect_s\":\"$upstream_connect_time\",\"user_agent\":\"$http_user_agent\"}';",
    `access_log ${target.accessLog} json;`,
    '',
    ...realIp(target.trustedProxies),
    '',
    '# The client\'s request id when it is sane, else nginx\'s own; the services log it and echo it.',
    ...requestIdMap,
    '',
    ...publicMaps(Boolean(target.storefront || target.storefrontUpstream)),
    '',
    'sendfile on;',
    'keepalive_timeout 65s;',
    `client_max_body_size ${gatewayLimits.maxBodyKilobytes}k;`,
    '# Bodies fit in memory: nothing is written to temporary files.',
    `client_body_buffer_size ${gatewayLimits.maxBodyKilobytes}k;`,
    'proxy_max_temp_file_size 0;',
    ...(target.tempDir
      ? tempPaths(target.tempDir)
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
    ...proxyHeaders(),
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
    ...(target.storefrontUpstream && target.resolver
      ? [
          "# The storefront image's nginx: its name is looked up when a request needs it (location /), so",
          '# nginx starts and the API answers whether or not the storefront runs, and a recreated one is',
          '# found at its new address without a reload.',
          `resolver ${target.resolver.address} valid=${target.resolver.validSeconds}s ipv6=off;`,
          '# Docker answers for a container it knows at once; a stopped one\'s name it forwards to the',
          '# host\'s DNS servers, which may never answer: `/` is the 502 page after this, not after 30 s.',
          `resolver_timeout ${target.resolver.timeoutSeconds}s;`,
        ]
      : target.storefrontUpstream
      ? [
          '# The storefront image\'s nginx (static files): resolved when nginx loads, as the services are.',
          `upstream ${storefrontUpstreamName} {`,
          `    zone ${storefrontUpstreamName} 64k;`,
          `    server ${target.storefrontUpstream} max_fails=${gatewayUpstream.maxFails} fail_timeout=${gatewayUpstream.failTimeoutSeconds}s;`,
          `    keepalive ${gatewayUpstream.keepaliveConnections};`,
          `    keepalive_timeout ${gatewayUpstream.keepaliveTimeoutSeconds}s;`,
          '}',
        ]
      : []),
    '',
  ];

  const acme = target.acmeWebroot ? [`location /.well-known/acme-challenge/ {`, `    root ${target.acmeWebroot};`, '}'] : [];
  const servers: string[] = [];
  if (target.tls) {
    servers.push(
      'server {',
      ...indent([`listen ${target.listen};`, 'server_tokens off;', ...errorPages(), ...acme, 'location / {', '    return 301 https://$host$request_uri;', '}', ...errorLocations(false)]),
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
        ...locations(true, target),
      ]),
      '}',
    );
  } else {
    servers.push('server {', ...indent([`listen ${target.listen};`, ...serverCommon, ...acme, '', ...locations(false, target)]), '}');
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
 * The same refusals for ingress-nginx, as a `configuration-snippet` (charts/ingress.ts, opt-in: the
 * controller refuses snippets unless its operator allows them). It lands in every location the
 * controller generates for an Ingress: paths not in normal form are the controller's 404, and a
 * client's X-Internal-Token is dropped.
 */
export function ingressSnippet(): string {
  return [
    '# gateway/nginx.ts: a path nginx would normalize but pass on as sent names no public resource.',
    `if ($request_uri ~* ${quoted(refusedPath)}) {`,
    '    return 404;',
    '}',
    '# Only the services\' own calls carry an internal token.',
    `proxy_set_header ${INTERNAL_TOKEN_HEADER} "";`,
    '',
  ].join('\n');
}

/** Where the storefront image (images/storefront/Dockerfile) keeps the built files. */
export const storefrontImageRoot = '/usr/share/nginx/storefront';

/** Where the storefront's nginx runs: the image's paths by default (a test runs it on a port of its own). */
export interface StorefrontNginxOptions {
  /** @default 8080 */
  listen?: number | string;
  /** The built storefront. @default storefrontImageRoot */
  root?: string;
  /** @default /tmp/nginx.pid */
  pidFile?: string;
  /** Temporary files. @default /tmp */
  tempDir?: string;
  /** @default /dev/stdout */
  accessLog?: string;
}

/**
 * The storefront image's own nginx (images/storefront/nginx.conf, committed, drift-tested): the built
 * files at `/` with the same locations, headers and CSP as the gateway's, on one port, and nginx's
 * errors as the same problem+json pages. It is all the cluster has in front of the files (ingress-nginx
 * routes `/` to it and adds no header); in compose the gateway proxies `/` to it and sends its own
 * copy of the headers. It knows nothing of the API: every path it has no file for is a 404.
 * Everything it writes is under /tmp (pid, temporary files): it runs with a read-only root.
 */
export function renderStorefrontNginx(options: StorefrontNginxOptions = {}): string {
  const tempDir = options.tempDir ?? '/tmp';
  const http = [
    'include /etc/nginx/mime.types;',
    'default_type application/octet-stream;',
    '',
    "log_format json escape=json '{\"time\":\"$time_iso8601\",\"request_id\":\"$req_id\",\"remote_addr\":\"$remote_addr\",'",
    "    '\"method\":\"$request_method\",\"uri\":\"$uri\",\"status\":$status,\"bytes\":$body_bytes_sent,'",
    "    '\"duration_s\":$request_time,\"user_agent\":\"$http_user_agent\"}';",
    `access_log ${options.accessLog ?? '/dev/stdout'} json;`,
    '',
    '# The request id the gateway (or ingress-nginx) sent when it is sane, else nginx\'s own.',
    ...requestIdMap,
    '',
    '# Static files: GET and HEAD, on every path (the Allow of a 405); the 429 page is never used here.',
    'map $uri $gateway_allow {',
    '    default "GET, HEAD";',
    '}',
    'map $uri $gateway_retry_after {',
    '    default 1;',
    '}',
    '',
    'sendfile on;',
    'keepalive_timeout 65s;',
    ...tempPaths(tempDir),
    '',
    'gzip on;',
    'gzip_min_length 256;',
    '# Behind a proxy too (a request with Via).',
    'gzip_proxied any;',
    'gzip_vary on;',
    '',
    'server {',
    ...indent([
      `listen ${options.listen ?? infrastructure.storefront.port};`,
      'server_tokens off;',
      ...errorPages(),
      '',
      ...storefrontLocations(options.root ?? storefrontImageRoot, false),
      ...errorLocations(false),
    ]),
    '}',
  ];
  return [
    '# Generated by gateway/nginx.ts (renderStorefrontNginx); do not edit by hand.',
    // `auto` is one worker per CPU of the host, not of the container's limit (a fraction of a CPU,
    // deploy/): on a 32-core node, 32 workers and their memory for a few static files. One worker
    // serves thousands of connections; a second only helps past a whole CPU.
    '# One worker: `auto` counts the host\'s CPUs, not the container\'s limit; static files need no more.',
    'worker_processes 1;',
    `pid ${options.pidFile ?? '/tmp/nginx.pid'};`,
    'error_log stderr warn;',
    '',
    'events {',
    '    worker_connections 1024;',
    '}',
    '',
    'http {',
    ...indent(http),
    '}',
    '',
  ].join('\n');
}

/** Where the compose nginx container's start writes the trusted proxies (gateway/trusted-proxies.sh). */
export const trustedProxiesFile = '/tmp/trusted-proxies.conf';
const trustedProxiesInclude = '/tmp/trusted-proxies*.conf';

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
    // Written at start by gateway/trusted-proxies.sh (compose/generate.ts); a pattern, so that nginx
    // also starts from this file alone (no file: no trusted proxy).
    trustedProxies: { include: trustedProxiesInclude },
    // The storefront image's nginx, by its compose name (compose/generate.ts), asked of Docker's DNS
    // per request: nginx does not depend on the storefront (compose/generate.ts).
    storefrontUpstream: `storefront:${infrastructure.storefront.port}`,
    resolver: { address: '127.0.0.11', validSeconds: 10, timeoutSeconds: 2 },
    ...(options.tls
      ? { tls: { listen: infrastructure.nginx.containerTlsPort, certificate: '/etc/letsencrypt/live/product-store/fullchain.pem', certificateKey: '/etc/letsencrypt/live/product-store/privkey.pem' } }
      : {}),
  };
}
