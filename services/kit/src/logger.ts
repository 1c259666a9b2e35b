/**
 * Structured logs: one JSON object per line on stdout, with the service and, per request, its id.
 *
 * Built for the request path (every request writes an access line): a child logger is one small
 * object (no closures), its bindings are serialized once, a line is assembled by string concatenation
 * in the same key order as `{ time, level, ...bindings, msg, ...fields }`, and lines for stdout are
 * written in batches (one write per turn of the event loop, flushed synchronously at exit) instead of
 * one system call each.
 */
import { writeSync } from 'node:fs';
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

/** Lines written by stdoutSink not yet handed to stdout. */
let pending = '';
let flushScheduled = false;
const MAX_PENDING = 64 * 1024;

function flushStdout(): void {
  flushScheduled = false;
  if (!pending) return;
  const out = pending;
  pending = '';
  process.stdout.write(out);
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // process.exit() (graceful stop, a crash) runs 'exit' listeners synchronously: nothing buffered is lost.
  process.on('exit', () => {
    if (!pending) return;
    const out = pending;
    pending = '';
    try {
      writeSync(1, out);
    } catch {
      // stdout is gone; nothing left to tell
    }
  });
}

/** stdout, batched: the lines of one event-loop turn leave in one write, in order. */
const stdoutSink: LogSink = (line) => {
  installExitHook();
  pending += line;
  if (pending.length >= MAX_PENDING) flushStdout();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushStdout);
  }
};

function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  return { type: err.name, message: err.message, stack: err.stack, ...('code' in err ? { code: (err as { code: unknown }).code } : {}) };
}

const reserved = new Set(['time', 'level', 'msg']);
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

class JsonLogger implements Logger {
  /** `,"key":value` for each binding, computed on first use. */
  private prefix: string | undefined;

  constructor(
    private readonly threshold: number,
    private readonly sink: LogSink,
    private readonly bindings: LogFields,
  ) {}

  debug(msg: string, fields?: LogFields): void {
    if (rank.debug >= this.threshold) this.write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    if (rank.info >= this.threshold) this.write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    if (rank.warn >= this.threshold) this.write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    if (rank.error >= this.threshold) this.write('error', msg, fields);
  }

  child(more: LogFields): Logger {
    return new JsonLogger(this.threshold, this.sink, { ...this.bindings, ...more });
  }

  private write(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    let tail = '';
    if (fields) {
      let own: LogFields | undefined;
      for (const k in fields) {
        if (reserved.has(k) || hasOwn(this.bindings, k)) return this.writeMerged(level, msg, fields);
        const v = fields[k];
        (own ??= {})[k] = k === 'err' ? serializeError(v) : v;
      }
      if (own) {
        const json = JSON.stringify(own);
        if (json.length > 2) tail = `,${json.slice(1, -1)}`;
      }
    }
    if (this.prefix === undefined) {
      const json = JSON.stringify(this.bindings);
      this.prefix = json.length > 2 ? `,${json.slice(1, -1)}` : '';
    }
    this.sink(`{"time":"${new Date().toISOString()}","level":"${level}"${this.prefix},"msg":${JSON.stringify(msg)}${tail}}\n`);
  }

  /** Fields that replace a binding (or time, level, msg) keep the binding's place, as an object spread would. */
  private writeMerged(level: LogLevel, msg: string, fields: LogFields): void {
    const entry: LogFields = { time: new Date().toISOString(), level, ...this.bindings, msg };
    for (const [k, v] of Object.entries(fields)) entry[k] = k === 'err' ? serializeError(v) : v;
    this.sink(`${JSON.stringify(entry)}\n`);
  }
}

export function createLogger(options: { level: LogLevel; bindings?: LogFields; sink?: LogSink }): Logger {
  return new JsonLogger(rank[options.level], options.sink ?? stdoutSink, options.bindings ?? {});
}
