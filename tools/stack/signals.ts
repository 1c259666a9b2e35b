/**
 * Ctrl-C and SIGTERM for the runners that start processes (`npm start`, `npm test`, `npm run cassandra`,
 * `npm run bench`, `npm run load`).
 *
 * A terminal's Ctrl-C delivers SIGINT twice: to every process of the foreground group, and again
 * through npm, which forwards it to its child. A runner that handled only the first one was killed by
 * the second in the middle of stopping what it started, leaving Cassandra (in a process group of its
 * own, so the terminal's signal never reaches it) running. So the first SIGINT or SIGTERM starts the
 * stop, the next ones are ignored while it runs (said once), and only the `forceAfter`-th one (a second
 * Ctrl-C through npm) exits at once, after saying that something may be left running.
 */
export interface StopSignalOptions {
  /** Where the runner's own messages go. */
  say: (line: string) => void;
  /** The signal count that exits at once. @default 3 */
  forceAfter?: number;
  /** What a forced exit leaves behind, for its message. */
  leftBehind?: () => string;
  /** Exit status of a forced exit. @default 130 */
  forceExitCode?: number;
}

const stopSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** Calls `stop` on the first SIGINT or SIGTERM, as above; returns a function that removes the handlers. */
export function onStopSignals(stop: (signal: NodeJS.Signals) => void, options: StopSignalOptions): () => void {
  const forceAfter = options.forceAfter ?? 3;
  let received = 0;
  const handler = (signal: NodeJS.Signals) => {
    received++;
    if (received === 1) {
      stop(signal);
    } else if (received >= forceAfter) {
      const left = options.leftBehind?.();
      options.say(`${signal} again (${received} signals): exiting at once${left ? `; may be left running: ${left}` : ''}`);
      process.exit(options.forceExitCode ?? 130);
    } else if (received === 2) {
      options.say(`${signal} again: still stopping, ignored (a terminal sends Ctrl-C twice through npm; Ctrl-C again to exit at once)`);
    }
  };
  for (const s of stopSignals) process.on(s, handler);
  return () => {
    for (const s of stopSignals) process.off(s, handler);
  };
}
