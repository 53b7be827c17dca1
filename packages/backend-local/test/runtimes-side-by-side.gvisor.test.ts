import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SessionNotFoundError } from "@code-interpreter/core";
import { RUNTIME_LABEL_KEY } from "@code-interpreter/core/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { gvisorUnavailable } from "../src/testing/index.js";

// Two backends of one server, one per runtime, on the SAME state directory: each sees, claims and reaps only its own.
const unavailable = await gvisorUnavailable();
const describeIfGvisor = unavailable && process.env.CI !== "true" ? describe.skip : describe;

describeIfGvisor(
  `a bubblewrap and a gVisor backend on one state directory${unavailable ? ` [${unavailable}]` : ""}`,
  { timeout: 120_000 },
  () => {
    let stateDir: string;
    let bwrap: LocalBackend;
    let gvisor: LocalBackend;
    const warm = { min: 1, max: 1, idleTimeoutMs: 60_000 };
    // gVisor's kernel says it is Linux 4.4.0 whatever the host runs: that tells the two apart from inside.
    const kernel = "print(open('/proc/version').read().split()[2])";

    beforeAll(async () => {
      stateDir = await mkdtemp(join(tmpdir(), "ci-local-runtimes-"));
      const sandbox = process.env.CI === "true" ? "require" : "auto";
      bwrap = await createLocalBackend({ stateDir, sandbox, pool: warm, sessionPool: warm });
      gvisor = await createLocalBackend({ stateDir, sandbox, sandboxRuntime: "gvisor", pool: warm, sessionPool: warm });
    }, 60_000);
    afterAll(async () => {
      await Promise.all([bwrap?.close(), gvisor?.close()]);
      await rm(stateDir, { recursive: true, force: true });
    }, 60_000);

    it("says which runtime each backend is", () => {
      expect(bwrap.capabilities.runtime).toBe("default");
      expect(gvisor.capabilities.runtime).toBe("gvisor");
    });

    it("runs each one-shot execution in its own runtime's warm sandbox", async () => {
      const [host, sentry] = await Promise.all(
        [bwrap, gvisor].map((backend) => backend.execute({ code: kernel, timeoutMs: 30_000, lastLineInteractive: false, files: [] })),
      );
      expect(sentry?.stdout).toBe("4.4.0\n");
      expect(host?.stdout).not.toBe("4.4.0\n");
    });

    it("lists, finds and runs only its own sessions, each claimed from its own warm pool", async () => {
      const ofBwrap = await bwrap.createSession({ ttlSeconds: 600, files: [] });
      const ofGvisor = await gvisor.createSession({ ttlSeconds: 600, files: [] });
      expect((await bwrap.listSessions()).map((session) => session.id)).toEqual([ofBwrap.id]);
      expect((await gvisor.listSessions()).map((session) => session.id)).toEqual([ofGvisor.id]);
      await expect(bwrap.getSession(ofGvisor.id)).rejects.toBeInstanceOf(SessionNotFoundError);
      await expect(gvisor.runInSession({ sessionId: ofBwrap.id, language: "python", code: "1", timeoutMs: 30_000 })).rejects.toBeInstanceOf(
        SessionNotFoundError,
      );
      const record = JSON.parse(await readFile(join(stateDir, "sessions", ofGvisor.id, "session.json"), "utf8"));
      expect(record[RUNTIME_LABEL_KEY]).toBe("gvisor");
      const inGvisor = await gvisor.runInSession({ sessionId: ofGvisor.id, language: "python", code: kernel, timeoutMs: 30_000 });
      expect(inGvisor.stdout).toBe("4.4.0\n");
      // Reaping removes nothing of the other runtime (its warm session directory included).
      await bwrap.reapExpiredSessions();
      await gvisor.reapExpiredSessions();
      expect((await gvisor.getSession(ofGvisor.id)).id).toBe(ofGvisor.id);
      expect((await bwrap.getSession(ofBwrap.id)).id).toBe(ofBwrap.id);
      await Promise.all([bwrap.deleteSession(ofBwrap.id), gvisor.deleteSession(ofGvisor.id)]);
    });
  },
);
