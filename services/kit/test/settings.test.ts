/**
 * The one parser of settings: every type, defaults, ranges and rules, every problem listed at once;
 * and a service's own settings, validated with the kit's at start-up and handed over typed.
 */
import test from 'ava';
import { ConfigError, defineSettings, kitSettings, loadConfig, parseSettings, readSettings, startService, variables, type SettingValues } from '../src';

const declarations = defineSettings({
  WAIT_MS: { type: 'integer', unit: 'ms', default: 5000, min: 100, max: 60_000, description: 'a wait' },
  HOURS: { type: 'integer', min: 1, max: 720, description: 'no default' },
  ON: { type: 'boolean', default: false, description: 'a switch' },
  MODE: { type: 'enum', values: ['fast', 'safe'], default: 'safe', description: 'a mode' },
  WHERE: { type: 'url', default: 'http://127.0.0.1:1/', description: 'a place' },
  WHO: { type: 'email', description: 'someone' },
  NAME: { type: 'string', default: 'x', description: 'a name', rule: (v) => (/^[a-z]+$/.test(v) ? undefined : `NAME must be lower-case letters (got "${v}")`) },
  KEY: { type: 'secret', description: 'a key', rule: (v, { environment }) => (environment === 'production' && v.length < 8 ? 'KEY must be 8 characters in production' : undefined) },
});

test('unset or blank, every setting takes its default; set, its typed value', (t) => {
  t.deepEqual(parseSettings(declarations, { WAIT_MS: ' ', ON: '' }), {
    values: { WAIT_MS: 5000, HOURS: undefined, ON: false, MODE: 'safe', WHERE: 'http://127.0.0.1:1', WHO: undefined, NAME: 'x', KEY: undefined },
    problems: [],
  });
  const set = parseSettings(declarations, { WAIT_MS: '250', HOURS: '48', ON: 'yes', MODE: 'fast', WHERE: 'https://a.example/x/', WHO: ' a@b.c ', NAME: 'abc', KEY: ' k e y ' });
  t.deepEqual(set, { values: { WAIT_MS: 250, HOURS: 48, ON: true, MODE: 'fast', WHERE: 'https://a.example/x', WHO: 'a@b.c', NAME: 'abc', KEY: ' k e y ' }, problems: [] });
  // The values are typed from the declarations: a number, a union of the enum's values, a string or undefined.
  const typed: { WAIT_MS: number; HOURS: number | undefined; ON: boolean; MODE: 'fast' | 'safe'; WHO: string | undefined; NAME: string } = set.values;
  t.truthy(typed);
});

test('every problem is listed, each naming its variable, and the default stands in for a refused value', (t) => {
  const { values, problems } = parseSettings(declarations, { WAIT_MS: '50', HOURS: '1.5', ON: 'maybe', MODE: 'slow', WHERE: 'ftp://x', NAME: 'ABC', KEY: 'short' }, { environment: 'production' });
  t.deepEqual(problems, [
    'WAIT_MS must be an integer number of milliseconds from 100 to 60000 (got "50")',
    'HOURS must be an integer from 1 to 720 (got "1.5")',
    'ON must be true or false (got "maybe")',
    'MODE must be one of fast, safe (got "slow")',
    'WHERE must be an http(s) URL (got "ftp://x")',
    'NAME must be lower-case letters (got "ABC")',
    'KEY must be 8 characters in production',
  ]);
  t.is(values.WAIT_MS, 5000);
  t.is(values.MODE, 'safe');
  t.deepEqual(parseSettings(declarations, { KEY: 'short' }).problems, [], 'the production rule holds in production only');
  t.throws(() => readSettings(declarations, { WAIT_MS: '50' }), { message: /WAIT_MS must be an integer number of milliseconds/ });
});

test("the kit's settings are its variables: loadConfig reads them through the same parser", (t) => {
  t.deepEqual(variables.map((v) => v.name), Object.keys(kitSettings));
  t.is(variables.find((v) => v.name === 'CASSANDRA_REQUEST_TIMEOUT_MS')?.default, '2000');
  t.true(variables.find((v) => v.name === 'JWT_SECRET_KEY')?.secret);
  const config = loadConfig('order-service', { SERVICE_CALL_TIMEOUT_MS: '1500', CASSANDRA_REQUEST_TIMEOUT_MS: '900', DEBUG: 'true' });
  t.is(config.serviceCallTimeoutMs, 1500);
  t.is(config.cassandra.requestTimeoutMs, 900);
  t.is(config.logLevel, 'debug', 'LOG_LEVEL follows DEBUG when unset');
  t.is(config.settings.SERVICE_CALL_TIMEOUT_MS, 1500);
  const error = t.throws(() => loadConfig('backend', { SERVICE_CALL_TIMEOUT_MS: '10', CASSANDRA_KEYSPACE: 'Bad-Name', LOG_LEVEL: 'loud' }), { instanceOf: ConfigError });
  t.deepEqual(error?.problems, [
    'LOG_LEVEL must be one of debug, info, warn, error (got "loud")',
    'CASSANDRA_KEYSPACE must be a lower-case CQL identifier (got "Bad-Name")',
    'SERVICE_CALL_TIMEOUT_MS must be an integer number of milliseconds from 100 to 60000 (got "10")',
  ]);
});

const own = defineSettings({ OWN_WAIT_MS: { type: 'integer', unit: 'ms', default: 1000, min: 100, max: 5000, description: 'its own wait' } });

test("a service's own settings refuse the start together with the kit's: one refusal lists every problem", async (t) => {
  const error = await t.throwsAsync(
    startService({ name: 'cart-service', migrations: [], settings: own, routes: () => Promise.reject(new Error('not reached')) }, {
      env: { ENVIRONMENT: 'production', OWN_WAIT_MS: '9000', JWT_SECRET_KEY: 'short' },
      logSink: () => undefined,
    }),
    { instanceOf: ConfigError },
  );
  t.regex(error!.message, /JWT_SECRET_KEY must be at least 32 bytes in production/);
  t.regex(error!.message, /OWN_WAIT_MS must be an integer number of milliseconds from 100 to 5000 \(got "9000"\)/);
});

test("a service's own settings reach it typed, as deps.settings", (t) => {
  // What startService hands over (deps.settings) is parseSettings' values, typed from the declaration.
  const values: SettingValues<typeof own> = parseSettings(own, { OWN_WAIT_MS: '2000' }).values;
  const wait: number = values.OWN_WAIT_MS;
  t.is(wait, 2000);
});
