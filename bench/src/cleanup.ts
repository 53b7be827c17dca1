// What the run must undo (server, double, temp files), newest first: at the
// end, on failure, and on Ctrl-C or SIGTERM, so an interrupted run leaves
// nothing behind.
const steps: (() => Promise<void>)[] = [];
let running: Promise<void> | undefined;

/** Registers a step to run at clean-up; steps run newest first, each once, a failing one not stopping the rest. */
export function onCleanup(step: () => Promise<void>): void {
  steps.push(step);
}

/** Runs the registered steps (once, however often it is called). */
export function cleanUp(): Promise<void> {
  running ??= (async () => {
    for (let step = steps.pop(); step; step = steps.pop()) {
      await step().catch((error: Error) => console.error(`clean-up: ${error.message}`));
    }
  })();
  return running;
}

/** On SIGINT or SIGTERM: clean up, then exit 130 (a second signal ends the process at once). */
export function cleanUpOnSignals(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`${signal}: stopping the server and removing what the run created`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
}
