/**
 * A stand-in for Grafana 11.2.2 (no Grafana can be had here): the part of Grafana's interface the
 * deployment uses, from the same files.
 *
 * At start, like Grafana, it reads GF_PATHS_CONFIG (/etc/grafana/grafana.ini) with GF_<SECTION>_<KEY>
 * environment overrides, opens its data folder (paths.data: a first start creates grafana.db there and
 * stores the admin password in it; later starts keep that password, as Grafana does), and provisions
 * datasources (provisioning/datasources/*.yaml) and file dashboard providers
 * (provisioning/dashboards/*.yaml, each pointing at a folder of dashboard JSON). Unlike Grafana, which
 * logs and carries on for some of these, it refuses to start on anything invalid: an ini line it cannot
 * parse, YAML that does not parse or lacks required fields, two default datasources, duplicate
 * datasource or dashboard uids, a provider folder that does not exist, dashboard JSON that does not
 * parse or has no title, a home dashboard path that cannot be read. Panels naming a datasource uid that
 * is not provisioned are logged as warnings.
 *
 * HTTP (server.http_port, 3000): GET /api/health (no sign-in, Grafana's JSON), and with basic auth of the
 * admin user (or anonymous access when auth.anonymous.enabled): /api/search, /api/dashboards/uid/<uid>,
 * /api/dashboards/home, /api/folders, /api/datasources, /api/datasources/uid/<uid>,
 * /api/datasources/name/<name>, /api/datasources/proxy/uid/<uid>/<path> (forwarded to the datasource's
 * url), /api/org, /api/user. It has no UI, no database, no users other than the admin, no alerting.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';

const VERSION = '11.2.2';
const COMMIT = 'product-store-standin';

function log(level: 'info' | 'warn' | 'error', logger: string, msg: string, extra: Record<string, unknown> = {}): void {
  const fields = Object.entries(extra)
    .map(([k, v]) => `${k}=${JSON.stringify(typeof v === 'string' ? v : String(v))}`)
    .join(' ');
  process.stdout.write(`logger=${logger} t=${new Date().toISOString()} level=${level} msg=${JSON.stringify(msg)}${fields ? ` ${fields}` : ''}\n`);
}

class StartError extends Error {}

// ---- configuration --------------------------------------------------------------------------------

type Ini = Map<string, Map<string, string>>;

function parseIni(text: string, file: string): Ini {
  const ini: Ini = new Map([['', new Map()]]);
  let section = '';
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const s = /^\[([^\]]+)\]$/.exec(line);
    if (s) {
      section = s[1].trim();
      if (!ini.has(section)) ini.set(section, new Map());
      return;
    }
    const kv = /^([^=\s][^=]*?)\s*=\s*(.*)$/.exec(line);
    if (!kv) throw new StartError(`failed to parse "${file}": line ${i + 1}: key-value delimiter not found: ${raw}`);
    let value = kv[2];
    if (/^(["'`]).*\1$/.test(value)) value = value.slice(1, -1);
    ini.get(section)!.set(kv[1], value);
  });
  return ini;
}

const DEFAULTS: Record<string, Record<string, string>> = {
  paths: {
    data: '/var/lib/grafana',
    logs: '/var/log/grafana',
    plugins: '/var/lib/grafana/plugins',
    provisioning: '/etc/grafana/provisioning',
  },
  server: { http_addr: '', http_port: '3000' },
  security: { admin_user: 'admin', admin_password: 'admin' },
  'auth.anonymous': { enabled: 'false', org_name: 'Main Org.', org_role: 'Viewer' },
  dashboards: { default_home_dashboard_path: '' },
  log: { mode: 'console', level: 'info' },
};

/** The setting's value: GF_<SECTION>_<KEY> (dots and dashes as _), else the ini file, else the default. */
function setting(ini: Ini, section: string, key: string): string {
  const envName = `GF_${section}_${key}`.toUpperCase().replace(/[.-]/g, '_');
  if (process.env[envName] !== undefined) return process.env[envName]!;
  return ini.get(section)?.get(key) ?? DEFAULTS[section]?.[key] ?? '';
}

// ---- provisioning -----------------------------------------------------------------------------------

/** Grafana expands $VAR and ${VAR} in provisioning files' string values. */
function expandEnv(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a, b) => (m === '$$' ? '$' : process.env[a ?? b] ?? ''));
  }
  if (Array.isArray(value)) return value.map(expandEnv);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v)]));
  return value;
}

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

function readYaml(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StartError(`failed to load provisioning file "${file}": ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new StartError(`provisioning file "${file}" is not a YAML mapping`);
  return expandEnv(doc) as Record<string, unknown>;
}

interface Datasource {
  id: number;
  uid: string;
  orgId: number;
  name: string;
  type: string;
  access: string;
  url: string;
  isDefault: boolean;
  editable: boolean;
  jsonData: Record<string, unknown>;
  basicAuth: boolean;
  readOnly: boolean;
}

function provisionDatasources(dir: string): Datasource[] {
  const out: Datasource[] = [];
  for (const file of yamlFiles(dir)) {
    const doc = readYaml(file);
    const list = doc.datasources ?? [];
    if (!Array.isArray(list)) throw new StartError(`"${file}": datasources must be a list`);
    for (const [i, raw] of list.entries()) {
      const ds = raw as Record<string, unknown>;
      if (!ds || typeof ds !== 'object') throw new StartError(`"${file}": datasources[${i}] is not a mapping`);
      if (typeof ds.name !== 'string' || !ds.name) throw new StartError(`"${file}": datasources[${i}] has no name`);
      if (typeof ds.type !== 'string' || !ds.type) throw new StartError(`"${file}": datasource "${ds.name}" has no type`);
      const orgId = Number(ds.orgId ?? 1);
      const uid = typeof ds.uid === 'string' && ds.uid ? ds.uid : createHash('sha1').update(`${orgId}/${ds.name}`).digest('hex').slice(0, 14);
      if (!/^[a-zA-Z0-9\-_]{1,40}$/.test(uid)) throw new StartError(`"${file}": datasource "${ds.name}": invalid uid "${uid}"`);
      if (out.some((d) => d.uid === uid && d.orgId === orgId)) throw new StartError(`"${file}": datasource uid "${uid}" is used twice`);
      if (out.some((d) => d.name === ds.name && d.orgId === orgId)) throw new StartError(`"${file}": datasource name "${ds.name}" is used twice`);
      out.push({
        id: out.length + 1,
        uid,
        orgId,
        name: ds.name,
        type: ds.type,
        access: typeof ds.access === 'string' ? ds.access : 'proxy',
        url: typeof ds.url === 'string' ? ds.url : '',
        isDefault: ds.isDefault === true,
        editable: ds.editable === true,
        jsonData: (ds.jsonData as Record<string, unknown>) ?? {},
        basicAuth: ds.basicAuth === true,
        readOnly: ds.editable !== true,
      });
    }
    log('info', 'provisioning.datasources', 'inserting datasources from configuration', { file, count: list.length });
  }
  const orgs = new Set(out.map((d) => d.orgId));
  for (const org of orgs) {
    if (out.filter((d) => d.orgId === org && d.isDefault).length > 1) {
      throw new StartError('datasource.yaml config is invalid. Only one datasource per organization can be marked as default');
    }
  }
  return out;
}

interface Folder {
  id: number;
  uid: string;
  title: string;
}

interface Dashboard {
  id: number;
  uid: string;
  title: string;
  tags: string[];
  json: Record<string, unknown>;
  file: string;
  folder?: Folder;
  provider: string;
  allowUiUpdates: boolean;
  created: string;
}

const slug = (title: string) =>
  title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');

function jsonFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...jsonFiles(p));
    else if (e.name.endsWith('.json') && (e.isFile() || (e.isSymbolicLink() && statSync(p).isFile()))) out.push(p);
  }
  return out.sort();
}

function readDashboardFile(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StartError(`failed to load dashboard from "${file}": ${(err as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new StartError(`dashboard file "${file}" is not a JSON object`);
  const d = json as Record<string, unknown>;
  // A dashboard exported with its envelope ({ dashboard, meta }).
  const body = d.dashboard && typeof d.dashboard === 'object' ? (d.dashboard as Record<string, unknown>) : d;
  if (typeof body.title !== 'string' || !body.title.trim()) throw new StartError(`dashboard "${file}": Dashboard title cannot be empty`);
  return body;
}

function provisionDashboards(dir: string): { dashboards: Dashboard[]; folders: Folder[] } {
  const dashboards: Dashboard[] = [];
  const folders: Folder[] = [];
  const now = new Date().toISOString();
  for (const file of yamlFiles(dir)) {
    const doc = readYaml(file);
    const providers = doc.providers ?? [];
    if (!Array.isArray(providers)) throw new StartError(`"${file}": providers must be a list`);
    for (const [i, raw] of providers.entries()) {
      const p = raw as Record<string, unknown>;
      if (!p || typeof p !== 'object') throw new StartError(`"${file}": providers[${i}] is not a mapping`);
      const name = typeof p.name === 'string' ? p.name : '';
      if (!name) throw new StartError(`"${file}": providers[${i}] has no name`);
      const type = typeof p.type === 'string' ? p.type : 'file';
      if (type !== 'file') throw new StartError(`"${file}": provider "${name}": type "${type}" is not supported (only file)`);
      const options = (p.options as Record<string, unknown>) ?? {};
      const path = typeof options.path === 'string' ? options.path : '';
      if (!path) throw new StartError(`"${file}": provider "${name}" has no options.path`);
      if (!existsSync(path) || !statSync(path).isDirectory()) throw new StartError(`provider "${name}": cannot read directory "${path}"`);
      let folder: Folder | undefined;
      const folderTitle = typeof p.folder === 'string' ? p.folder : '';
      if (folderTitle) {
        folder = folders.find((f) => f.title === folderTitle);
        if (!folder) {
          const uid = typeof p.folderUid === 'string' && p.folderUid ? p.folderUid : createHash('sha1').update(folderTitle).digest('hex').slice(0, 14);
          folder = { id: folders.length + 1, uid, title: folderTitle };
          folders.push(folder);
        }
      }
      for (const f of jsonFiles(path)) {
        const json = readDashboardFile(f);
        const uid = typeof json.uid === 'string' && json.uid ? json.uid : createHash('sha1').update(f).digest('hex').slice(0, 14);
        const other = dashboards.find((d) => d.uid === uid);
        if (other) throw new StartError(`dashboards "${other.file}" and "${f}" have the same uid "${uid}"`);
        dashboards.push({
          id: dashboards.length + 1,
          uid,
          title: json.title as string,
          tags: Array.isArray(json.tags) ? (json.tags as string[]) : [],
          json: { ...json, uid },
          file: f,
          folder,
          provider: name,
          allowUiUpdates: p.allowUiUpdates === true,
          created: now,
        });
      }
      log('info', 'provisioning.dashboard', 'provisioned dashboards', { provider: name, path, count: dashboards.filter((d) => d.provider === name).length });
    }
  }
  return { dashboards, folders };
}

/** Datasource uids the dashboard's panels and targets name, that no provisioned datasource has. */
function unknownDatasourceRefs(d: Dashboard, datasources: Datasource[]): string[] {
  const missing = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    const ds = o.datasource;
    if (ds && typeof ds === 'object' && typeof (ds as { uid?: unknown }).uid === 'string') {
      const uid = (ds as { uid: string }).uid;
      const special = uid.startsWith('$') || ['grafana', '-- Grafana --', '-- Mixed --', '-- Dashboard --'].includes(uid);
      if (!special && !datasources.some((x) => x.uid === uid)) missing.add(uid);
    }
    for (const v of Object.values(o)) visit(v);
  };
  visit(d.json.panels);
  visit((d.json.templating as { list?: unknown })?.list);
  visit(d.json.annotations);
  return [...missing];
}

// ---- state ------------------------------------------------------------------------------------------------

interface Admin {
  login: string;
  passwordSha256: string;
}

function openDataFolder(dataDir: string, ini: Ini): Admin {
  const db = join(dataDir, 'grafana.db');
  try {
    mkdirSync(dataDir, { recursive: true });
    if (existsSync(db)) {
      const stored = JSON.parse(readFileSync(db, 'utf8')) as { admin: Admin };
      // Grafana keeps the admin password of its database: GF_SECURITY_ADMIN_PASSWORD only applies at
      // the first start.
      writeFileSync(db, `${JSON.stringify({ ...stored, lastStart: new Date().toISOString() })}\n`);
      return stored.admin;
    }
    const admin: Admin = {
      login: setting(ini, 'security', 'admin_user'),
      passwordSha256: createHash('sha256').update(setting(ini, 'security', 'admin_password')).digest('hex'),
    };
    writeFileSync(db, `${JSON.stringify({ standIn: `Product Store's Grafana stand-in (${VERSION})`, admin, created: new Date().toISOString() })}\n`, { mode: 0o640 });
    log('info', 'sqlstore', 'created the database and the admin user', { path: db, user: admin.login });
    return admin;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new StartError(`failed to open the database in "${dataDir}" (running as uid ${process.getuid?.()}): ${e.code ?? ''} ${e.message}`);
  }
}

// ---- HTTP -------------------------------------------------------------------------------------------------

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

function main(): void {
  const configFile = process.env.GF_PATHS_CONFIG || '/etc/grafana/grafana.ini';
  const ini: Ini = existsSync(configFile) ? parseIni(readFileSync(configFile, 'utf8'), configFile) : new Map();
  if (!existsSync(configFile)) log('warn', 'settings', 'no configuration file; using the defaults', { file: configFile });
  else log('info', 'settings', 'Config loaded from', { file: configFile });

  const dataDir = setting(ini, 'paths', 'data');
  const provisioning = setting(ini, 'paths', 'provisioning');
  const anonymous = setting(ini, 'auth.anonymous', 'enabled') === 'true';
  const admin = openDataFolder(dataDir, ini);
  const datasources = provisionDatasources(join(provisioning, 'datasources'));
  const { dashboards, folders } = provisionDashboards(join(provisioning, 'dashboards'));
  for (const d of dashboards) {
    const missing = unknownDatasourceRefs(d, datasources);
    if (missing.length) log('warn', 'provisioning.dashboard', 'dashboard names datasources that are not provisioned', { uid: d.uid, file: d.file, datasources: missing.join(',') });
  }
  const homePath = setting(ini, 'dashboards', 'default_home_dashboard_path');
  let home: Record<string, unknown> | undefined;
  if (homePath) {
    if (!existsSync(homePath)) throw new StartError(`default_home_dashboard_path "${homePath}" does not exist`);
    home = readDashboardFile(homePath);
  }

  const authorized = (req: IncomingMessage): 'ok' | 'none' | 'bad' => {
    const header = req.headers.authorization;
    if (header?.startsWith('Basic ')) {
      const [login, ...rest] = Buffer.from(header.slice(6), 'base64').toString().split(':');
      const given = createHash('sha256').update(rest.join(':')).digest();
      const ok = login === admin.login && timingSafeEqual(given, Buffer.from(admin.passwordSha256, 'hex'));
      return ok ? 'ok' : 'bad';
    }
    return anonymous ? 'ok' : 'none';
  };

  const meta = (d: Dashboard) => ({
    type: 'db',
    canSave: false,
    canEdit: d.allowUiUpdates,
    canAdmin: false,
    canStar: true,
    canDelete: false,
    slug: slug(d.title),
    url: `/d/${d.uid}/${slug(d.title)}`,
    expires: '0001-01-01T00:00:00Z',
    created: d.created,
    updated: d.created,
    updatedBy: 'Anonymous',
    createdBy: 'Anonymous',
    version: Number(d.json.version ?? 1),
    hasAcl: false,
    isFolder: false,
    folderId: d.folder?.id ?? 0,
    folderUid: d.folder?.uid ?? '',
    folderTitle: d.folder?.title ?? 'General',
    folderUrl: d.folder ? `/dashboards/f/${d.folder.uid}/${slug(d.folder.title)}` : '',
    provisioned: true,
    provisionedExternalId: basename(d.file),
  });

  const searchHit = (d: Dashboard) => ({
    id: d.id,
    uid: d.uid,
    orgId: 1,
    title: d.title,
    uri: `db/${slug(d.title)}`,
    url: `/d/${d.uid}/${slug(d.title)}`,
    slug: '',
    type: 'dash-db',
    tags: d.tags,
    isStarred: false,
    ...(d.folder ? { folderId: d.folder.id, folderUid: d.folder.uid, folderTitle: d.folder.title, folderUrl: `/dashboards/f/${d.folder.uid}/${slug(d.folder.title)}` } : {}),
    sortMeta: 0,
    isDeleted: false,
  });

  const dsView = (d: Datasource) => ({ ...d, typeLogoUrl: '', password: '', user: '', database: '', basicAuthUser: '', withCredentials: false, secureJsonFields: {} });

  const proxy = (req: IncomingMessage, res: ServerResponse, ds: Datasource, rest: string) => {
    if (!ds.url) return send(res, 502, { message: 'datasource has no url' });
    const target = new URL(ds.url.replace(/\/$/, '') + '/' + rest.replace(/^\//, ''));
    const doRequest = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers = { ...req.headers, host: target.host };
    delete headers.authorization;
    delete headers.cookie;
    const upstream = doRequest(target, { method: req.method, headers, timeout: 30_000 }, (u) => {
      res.writeHead(u.statusCode ?? 502, u.headers);
      u.pipe(res);
    });
    upstream.on('timeout', () => upstream.destroy(new Error('timeout')));
    upstream.on('error', (err) => {
      if (!res.headersSent) send(res, 502, { message: 'Bad Gateway', error: err.message });
      else res.destroy();
    });
    req.pipe(upstream);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://grafana');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/api/health') return send(res, 200, { commit: COMMIT, database: 'ok', version: VERSION });
    // Grafana's liveness endpoint (the cluster's livenessProbe): plain "Ok" while the server runs.
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      return res.end('Ok');
    }
    if (path === '/login') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' });
      return res.end(`<!DOCTYPE html><title>Grafana</title><p>Product Store's Grafana stand-in ${VERSION}: API only.</p>`);
    }
    const auth = authorized(req);
    if (auth === 'bad') return send(res, 401, { message: 'Invalid username or password', messageId: 'password-auth.failed', statusCode: 401, traceID: '' });
    if (auth === 'none') {
      if (!path.startsWith('/api/')) {
        res.writeHead(302, { Location: '/login' });
        return res.end();
      }
      return send(res, 401, { message: 'Unauthorized' });
    }
    if (req.method === 'GET' && path === '/api/search') {
      const query = (url.searchParams.get('query') ?? '').toLowerCase();
      const tags = url.searchParams.getAll('tag');
      const type = url.searchParams.get('type');
      const uids = url.searchParams.getAll('dashboardUIDs').flatMap((s) => s.split(',')).filter(Boolean);
      const folderUids = url.searchParams.getAll('folderUIDs').flatMap((s) => s.split(',')).filter(Boolean);
      const limit = Number(url.searchParams.get('limit') ?? 1000);
      const hits: unknown[] = [];
      if (type !== 'dash-db' && !tags.length && !uids.length) {
        for (const f of folders) {
          if (query && !f.title.toLowerCase().includes(query)) continue;
          hits.push({ id: f.id, uid: f.uid, orgId: 1, title: f.title, uri: `db/${slug(f.title)}`, url: `/dashboards/f/${f.uid}/${slug(f.title)}`, slug: '', type: 'dash-folder', tags: [], isStarred: false, sortMeta: 0, isDeleted: false });
        }
      }
      if (type !== 'dash-folder') {
        for (const d of [...dashboards].sort((a, b) => a.title.localeCompare(b.title))) {
          if (query && !d.title.toLowerCase().includes(query)) continue;
          if (tags.some((t) => !d.tags.includes(t))) continue;
          if (uids.length && !uids.includes(d.uid)) continue;
          if (folderUids.length && !folderUids.includes(d.folder?.uid ?? 'general')) continue;
          hits.push(searchHit(d));
        }
      }
      return send(res, 200, hits.slice(0, limit));
    }
    let m = /^\/api\/dashboards\/uid\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && m) {
      const d = dashboards.find((x) => x.uid === decodeURIComponent(m![1]));
      if (!d) return send(res, 404, { message: 'Dashboard not found' });
      return send(res, 200, { meta: meta(d), dashboard: { ...d.json, id: d.id } });
    }
    if (req.method === 'DELETE' && m) return send(res, 400, { message: 'provisioned dashboard cannot be deleted' });
    if (req.method === 'GET' && path === '/api/dashboards/home') {
      return send(res, 200, { meta: { isHome: true, canSave: false, canEdit: false, canStar: false, slug: '', url: '', provisioned: false }, dashboard: home ?? { title: 'Home', panels: [] } });
    }
    if (req.method === 'GET' && path === '/api/folders') return send(res, 200, folders.map((f) => ({ id: f.id, uid: f.uid, title: f.title })));
    if (req.method === 'GET' && path === '/api/datasources') return send(res, 200, datasources.map(dsView));
    m = /^\/api\/datasources\/(uid|name)\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && m) {
      const key = decodeURIComponent(m[2]);
      const ds = datasources.find((d) => (m![1] === 'uid' ? d.uid : d.name) === key);
      return ds ? send(res, 200, dsView(ds)) : send(res, 404, { message: 'Data source not found' });
    }
    m = /^\/api\/datasources\/proxy\/uid\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (m) {
      const ds = datasources.find((d) => d.uid === decodeURIComponent(m![1]));
      if (!ds) return send(res, 404, { message: 'Data source not found' });
      return proxy(req, res, ds, `${m[2] ?? ''}${url.search}`);
    }
    if (req.method === 'GET' && path === '/api/org') return send(res, 200, { id: 1, name: 'Main Org.', address: {} });
    if (req.method === 'GET' && path === '/api/user') return send(res, 200, { id: 1, login: admin.login, email: 'admin@localhost', name: '', isGrafanaAdmin: true, orgId: 1 });
    return send(res, 404, { message: 'Not found' });
  });

  const port = Number(setting(ini, 'server', 'http_port'));
  const host = setting(ini, 'server', 'http_addr') || undefined;
  server.listen(port, host, () => {
    log('info', 'http.server', 'HTTP Server Listen', { address: `${host ?? '[::]'}:${port}`, protocol: 'http', version: VERSION, standIn: 'true' });
  });
  const shutdown = (signal: string) => {
    log('info', 'server', 'Shutdown started', { reason: `System signal: ${signal}` });
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', () => shutdown('terminated'));
  process.on('SIGINT', () => shutdown('interrupt'));
}

try {
  main();
} catch (err) {
  if (err instanceof StartError) {
    log('error', 'server', 'Failed to start grafana', { error: err.message });
    process.stderr.write(`Error: ✗ ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
