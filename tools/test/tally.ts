/** Counting ava's results in a run's output, for the `N passed, N failed` line of `npm test` and `npm run test:deploy`. */

/**
 * Passes from ava's per-test lines (`✔ name`): its summary says "N tests passed" only when nothing
 * failed, so a run with one failure would otherwise count no pass at all. Failures from its summary
 * ("1 test failed", "2 uncaught exceptions", "1 hook failed", ...), or from its `✘` lines where
 * those say more.
 */
export function tally(text: string): { passed: number; failed: number } {
  const plain = text.replace(/\u001b\[[0-9;]*m/g, '');
  const count = (pattern: RegExp) => [...plain.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0);
  const lines = (pattern: RegExp) => plain.split('\n').filter((l) => pattern.test(l)).length;
  const summaryPassed = count(/^\s*(?:\S+\s+)?(\d+) tests? passed/gm);
  const summaryFailed = count(/^\s*(?:\S+\s+)?(\d+) (?:tests? failed|uncaught exceptions?|unhandled rejections?|tests? remained pending|hooks? failed|known failures?|tests? timed out)/gm);
  return {
    passed: Math.max(summaryPassed, lines(/^\s*(?:\S+:?\s+)?✔ /)),
    failed: Math.max(summaryFailed, lines(/^\s*(?:\S+:?\s+)?✘ /)),
  };
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
  const stopOnSignal = () => child.kill('SIGTERM');
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
  process.off('SIGINT', stopOnSignal);
  process.off('SIGTERM', stopOnSignal);
  return { code, output };
}
