/**
 * glibc malloc settings for the server process. Measured with bench/src/load.ts's hostile mix
 * (bench/README.md, "Memory"): with glibc's defaults the pages the server's Buffers freed
 * (64 KiB stream chunks, output, snapshot files) stay with the allocator, held in place by
 * smaller blocks still in use, so RSS stayed 100–120 MB above its start after a forced GC
 * while the heap and Buffers were back at theirs; with these it comes back.
 * - MALLOC_MMAP_THRESHOLD_: a block of 16 KiB or more gets its own mapping, returned to the
 *   system when freed. A fixed value also turns off glibc's dynamic threshold, which rises
 *   (up to 32 MiB) after each large block freed and then keeps such blocks in the heap.
 * - MALLOC_ARENA_MAX: two arenas, not one per thread of libuv's pool, each with its own free pages.
 * - MALLOC_TRIM_THRESHOLD_: the top of the heap goes back once 128 KiB of it is free.
 */
export const MALLOC_SETTINGS: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "16384",
  MALLOC_TRIM_THRESHOLD_: "131072",
};

/**
 * V8's young generation grew to 128 MB in the same mix (two 64 MB semi-spaces, sized for
 * throughput on a machine with much memory), and a full GC does not shrink it: the other
 * ~50 MB that stayed. 16 MB semi-spaces bound it to 32 MB.
 */
export const SEMI_SPACE_FLAG = "--max-semi-space-size=16";

/** Set to `default` to leave glibc's malloc and V8's young generation as they are (no re-exec). */
export const MEMORY_OPT_OUT = "CODE_INTERPRETER_MEMORY";

/**
 * glibc reads its settings once, when the process starts, and V8 sizes its heap then: so
 * `serve` re-executes itself once (process.execve: same pid, arguments and environment)
 * with MALLOC_SETTINGS added when none of them is set, and SEMI_SPACE_FLAG when no
 * semi-space size is given. What is already set (by the user, an image, or this re-exec) is
 * left alone; so is a Node without process.execve (< 22.15) or a platform other than Linux.
 */
export function reexecWithMemorySettings(): void {
  if (process.platform !== "linux" || typeof process.execve !== "function") return;
  if (process.env[MEMORY_OPT_OUT] === "default") return;
  const addMalloc = !Object.keys(MALLOC_SETTINGS).some((name) => process.env[name] !== undefined);
  const addFlag = ![...process.execArgv, process.env.NODE_OPTIONS ?? ""].some((arg) => /semi[-_]space[-_]size/.test(arg));
  if (!addMalloc && !addFlag) return;
  process.execve(
    process.execPath,
    [process.execPath, ...(addFlag ? [SEMI_SPACE_FLAG] : []), ...process.execArgv, ...process.argv.slice(1)],
    { ...process.env, ...(addMalloc ? MALLOC_SETTINGS : {}) },
  );
}
