/** Counting ava's results in a run's output, for the `N passed, N failed` line of `npm test` and `npm run test:deploy`. */
import type { CassandraHandle } from '../cassandra/launcher';
import { onStopSignals } from '../stack/signals';

/** Every terminal control sequence (colours, cursor moves, line erases) and carriage returns. */
const controlSequences = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[@-Z\\-_]|\r/g;

/**
 * Where nx's stream output says which project a line belongs to: its `> nx run <project>:<target>`
 * header, or the `<project>:` prefix of every line it streams.
 */
const header = /^\s*>\s+nx run ([\w@./-]+):/;
const prefix = /^([\w@./-]+):\s/;

/**
 * Passes from ava's per-test lines (`✔ name`): its summary says "N tests passed" only when nothing
 * failed, so a run with one failure would otherwise count no pass at all. Failures from its summary
 * ("1 test failed", "2 uncaught exceptions", "1 hook failed", ...), or from its `✘` lines where
 * those say more.
 *
 * Counted project by project (nx's sections and line prefixes) and added up: a project's count is
 * the larger of its summary and its lines, so one project whose `✔` lines are fewer than its summary
 * (or a failing one, which has no "passed" summary) never hides another project's passes.
 */
export function tally(text: string): { passed: number; failed: number; failures: string[]; reasons: Record<string, string[]> } {
  const sections = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(controlSequences, '');
    const project = header.exec(line)?.[1] ?? prefix.exec(line)?.[1] ?? current;
    if (header.test(line)) current = project;
    const lines = sections.get(project) ?? [];
    lines.push(line.replace(prefix, ''));
    sections.set(project, lines);
  }
  let passed = 0;
  let failed = 0;
  const failures: string[] = [];
  const reasons: Record<string, string[]> = {};
  for (const [project, lines] of sections) {
    const count = (pattern: RegExp) => lines.reduce((sum, l) => sum + Number(pattern.exec(l)?.[1] ?? 0), 0);
    const matching = (pattern: RegExp) => lines.filter((l) => pattern.test(l)).length;
    const summaryPassed = count(/^\s*(\d+) tests? passed/);
    const summaryFailed = count(/^\s*(\d+) (?:tests? failed|uncaught exceptions?|unhandled rejections?|tests? remained pending|hooks? failed|known failures?|tests? timed out)/);
    passed += Math.max(summaryPassed, matching(/^\s*✔ /));
    failed += Math.max(summaryFailed, matching(/^\s*✘ /));
    const named = (title: string) => (project ? `${project}: ${title}` : title);
    const titles = lines.map((l) => /^\s*✘ (.+)$/.exec(l)?.[1].trim()).filter((x): x is string => !!x);
    for (const title of titles) if (!failures.includes(named(title))) failures.push(named(title));
    for (const [title, reason] of failureReasons(lines, titles)) reasons[named(title)] = reason;
  }
  return { passed, failed, failures, reasons };
}

/**
 * Why each test failed, from ava's details after its `─` line: a block per failure, headed by the
 * test's title, holding the error (`Error: ...` and the lines it continues on) or the assertion's
 * message. At most eight lines each: enough to name the cause in a CI log kept only by its tail.
 */
function failureReasons(lines: string[], titles: string[]): Map<string, string[]> {
  // `✘ [fail]: file › title message`: the details are headed by `file › title`.
  const found = new Map<string, string[]>();
  const headerOf = (line: string) => {
    const text = line.trim();
    return text && titles.find((full) => {
      const bare = full.replace(/^\[\w+\]: /, '');
      return bare === text || bare.startsWith(`${text} `);
    });
  };
  let block: { title: string; body: string[] } | undefined;
  const close = () => {
    if (!block) return;
    const body = block.body;
    const errorAt = body.findIndex((l) => /^\s*(?:\w*Error|AssertionError): /.test(l));
    let reason: string[];
    if (errorAt >= 0) {
      reason = [];
      for (const l of body.slice(errorAt)) {
        if (/^\s*at /.test(l) || (!l.trim() && reason.length)) break;
        reason.push(l.trim());
      }
    } else {
      // An assertion: its message and its difference, past the source excerpt and the file reference.
      reason = body.map((l) => l.trim()).filter((l) => l && !/^\d+: /.test(l) && !/\.[cm]?[jt]s:\d+(?::\d+)?\)?$/.test(l) && !l.startsWith('›'));
    }
    found.set(block.title, reason.slice(0, 8).map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l)));
    block = undefined;
  };
  let details = false;
  for (const line of lines) {
    if (/^\s*─\s*$/.test(line)) {
      close();
      details = true;
      continue;
    }
    if (!details) continue;
    const title = headerOf(line);
    if (title && /^ {2}\S/.test(line)) {
      close();
      block = { title, body: [] };
    } else block?.body.push(line);
  }
  close();
  return found;
}

/**
 * The closing lines of a run: the failed tests by name (a CI log often keeps only its end), then the
 * one `N passed, N failed` line.
 */
export function closingLines(result: { passed: number; failed: number; failures: string[]; reasons?: Record<string, string[]> }, uncounted: number): string {
  // The reason's lines start with `failed:` too: .ci/run repeats every such line at its very end.
  const named = result.failures.map((f) => `failed: ${f}\n${(result.reasons?.[f] ?? []).map((r) => `failed:     ${r}\n`).join('')}`).join('');
  return `${named}${result.passed} passed, ${result.failed + uncounted} failed\n`;
}

/** How `npm test` got its Cassandra, for its last lines: only a node it started itself took a start-up time. */
export function cassandraOrigin(cassandra: Pick<CassandraHandle, 'host' | 'origin' | 'startMs'>): string {
  switch (cassandra.origin) {
    case 'external':
      return `at ${cassandra.host} (CASSANDRA_HOST)`;
    case 'adopted':
      return 'already running (left by an earlier launcher), reused and stopped after';
    case 'shared':
      return 'already running (another launcher owns it), shared';
    case 'started':
      return `started in ${(cassandra.startMs / 1000).toFixed(1)} s`;
  }
}
/** Runs a command, echoing its output, and resolves with its exit code and everything it printed. */
export async function runEchoed(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number; output: string }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    process.stdout.write(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    process.stderr.write(chunk);
  });
  // The first Ctrl-C ends the run (the caller then stops what it started); the second copy a terminal
  // sends through npm is ignored rather than killing the caller mid-stop (tools/stack/signals.ts).
  const release = onStopSignals(() => child.kill('SIGTERM'), { say: (line) => process.stderr.write(`${line}\n`), leftBehind: () => `${command} (pid ${child.pid})` });
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
  release();
  return { code, output };
}
