/** `ok`: ready. `fail`: must be fixed for this backend. `warn`: could not be verified, or not needed. */
export type CheckStatus = "ok" | "fail" | "warn";

/** One line of the doctor's check list. */
export interface CheckResult {
  /** What was checked, e.g. `bubblewrap sandbox`. */
  name: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** The exact thing to do about it, when there is something to do. */
  fix?: string;
}

/** The backends doctor knows, and the checks of one group. */
export type BackendName = "local" | "docker" | "kubernetes";

export interface CheckGroup {
  title: string;
  results: CheckResult[];
}

export const ok = (name: string, detail: string): CheckResult => ({ name, status: "ok", detail });
export const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: "fail", detail, fix });
export const warn = (name: string, detail: string, fix?: string): CheckResult => ({
  name,
  status: "warn",
  detail,
  ...(fix ? { fix } : {}),
});

/** A group is ready when none of its checks failed. */
export const ready = (results: readonly CheckResult[]) => results.every((result) => result.status !== "fail");

/** Bounds a probe that could hang on an unreachable host. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
