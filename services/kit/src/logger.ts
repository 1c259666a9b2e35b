/** Structured logs: one JSON object per line on stdout, with the service and, per request, its id. */
import type { LogLevel } from './config';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(bindings: LogFields): Logger;
}

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => process.stdout.write(line);

function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  return { type: err.name, message: err.message, stack: err.stack, ...('code' in err ? { code: (err as { code: unknown }).code } : {}) };
}

export function createLogger(options: { level: LogLevel; bindings?: LogFields; sink?: LogSink }): Logger {
  const threshold = rank[options.level];
  const sink = options.sink ?? stdoutSink;
  const bindings = options.bindings ?? {};
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (rank[level] < threshold) return;
    const entry: LogFields = { time: new Date().toISOString(), level, ...bindings, msg };
    if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = k === 'err' ? serializeError(v) : v;
    sink(`${JSON.stringify(entry)}\n`);
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    child: (more) => createLogger({ level: options.level, sink, bindings: { ...bindings, ...more } }),
  };
}
