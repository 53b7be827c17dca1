import type { Readable } from "node:stream";
import { sessionInitArgv } from "./execution-plan.js";

/** What the server writes to a warm session sandbox's init once attached to it (see WARM_ATTACH_SECONDS). */
export const WARM_ATTACHED_LINE = "attached\n";

/** What the server writes to a warm session sandbox's init to claim it; the init answers with the same line. */
export const WARM_CLAIM_LINE = "claimed\n";

/**
 * A warm sandbox's main process exits when no server has attached to it
 * (for a warm session, WARM_ATTACHED_LINE) this long after it started: its
 * server died between starting it and attaching (Kubernetes attaches once the
 * pod runs, within a second or two), and nothing else would end it before its
 * platform deadline. Short, so that a crashed server's pools stop within the
 * reaper interval + 10 s; a live server that attaches later only loses that
 * warm sandbox (its pool makes another).
 */
export const WARM_ATTACH_SECONDS = 8;

/** How long a claim waits for the init's answer before it counts as failed (the engine then makes a fresh session). */
export const WARM_CLAIM_TIMEOUT_MS = 5_000;

/**
 * Main process of a warm session sandbox (session pool): the session init
 * (`sessionInitArgv`), plus a watch on its stdin, which its server holds
 * open (an attach, announced by WARM_ATTACHED_LINE within
 * WARM_ATTACH_SECONDS). Until the server claims it (WARM_CLAIM_LINE), the end
 * of that input means the server is gone: the init exits, and the sandbox
 * stops with it, also when no server ever comes back. Once claimed it is a
 * session, which outlives its server as every session does.
 */
export function warmSessionInitArgv(python = "python3", attachSeconds = WARM_ATTACH_SECONDS): string[] {
  const [, isolated, flag, init] = sessionInitArgv(python);
  return [python, isolated as string, flag as string, `${warmWatch(attachSeconds)}${init}`];
}

const warmWatch = (attachSeconds: number) => `import os, select, sys, threading
def _watch_server():
    if not select.select([0], [], [], ${attachSeconds})[0] or sys.stdin.buffer.readline() != b${JSON.stringify(WARM_ATTACHED_LINE)}:
        os._exit(0)
    if sys.stdin.buffer.readline() != b${JSON.stringify(WARM_CLAIM_LINE)}:
        os._exit(0)
    sys.stdout.write(${JSON.stringify(WARM_CLAIM_LINE)})
    sys.stdout.flush()
threading.Thread(target=_watch_server, daemon=True).start()
`;

/**
 * Claims a warm session sandbox through its init's stdin: writes the claim
 * and resolves once the init has answered on `output`, so the claim holds
 * even if the connection drops right after. Rejects when `output` ends or
 * WARM_CLAIM_TIMEOUT_MS passes first.
 */
export function claimWarmInit(write: (data: string) => void, output: Readable, timeoutMs = WARM_CLAIM_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = "";
    const finish = (error?: Error) => {
      clearTimeout(timer);
      output.off("data", onData);
      output.off("end", onEnd);
      output.off("close", onEnd);
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer | string) => {
      received += String(chunk);
      if (received.includes(WARM_CLAIM_LINE)) finish();
    };
    const onEnd = () => finish(new Error("the warm session's init ended before it took the claim"));
    const timer = setTimeout(() => finish(new Error(`the warm session's init did not take the claim within ${timeoutMs} ms`)), timeoutMs);
    output.on("data", onData);
    output.once("end", onEnd);
    output.once("close", onEnd);
    // Already over: those events will not come again.
    if (output.readableEnded || output.destroyed) return onEnd();
    write(WARM_CLAIM_LINE);
  });
}
