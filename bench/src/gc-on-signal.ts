// Preloaded into the server by load.ts (node --expose-gc --import): SIGUSR2 runs a full
// garbage collection, so the load test can tell memory the server still holds from memory
// V8 has simply not collected yet. Only whoever may signal the process can trigger it, and
// only this test preloads it: the server itself has no such hook.
const gc = (globalThis as { gc?: () => void }).gc;
if (gc) {
  process.on("SIGUSR2", () => {
    gc();
    // A second pass collects what the first one's finalizers released.
    setImmediate(gc);
  });
}
