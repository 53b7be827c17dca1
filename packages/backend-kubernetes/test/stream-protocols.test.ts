import { describe, expect, it } from "vitest";
import { createTestBackend, dockerAvailable, leftovers, startDouble, stopDouble } from "./support.js";

describe.skipIf(!(await dockerAvailable()))("kubernetes streams on the v4 protocol", { timeout: 60_000 }, () => {
  it("runs one-shot and session commands when the API server offers only v4.channel.k8s.io", async () => {
    const double = await startDouble({ streamProtocols: ["v4.channel.k8s.io"] });
    try {
      const backend = await createTestBackend(double);
      const result = await backend.execute({
        code: "import sys\nprint(sys.stdin.read())",
        stdin: "in",
        timeoutMs: 10_000,
        lastLineInteractive: false,
        files: [],
      });
      expect(result).toMatchObject({ stdout: "in\n", exitCode: 0 });
      const session = await backend.createSession({ ttlSeconds: 60, files: [{ path: "a.txt", content: Buffer.from("staged") }] });
      const command = await backend.runInSession({ sessionId: session.id, language: "bash", code: "cat a.txt; exit 2", timeoutMs: 10_000 });
      expect(command).toMatchObject({ stdout: "staged", exitCode: 2 });
      await backend.deleteSession(session.id);
      await backend.close();
      expect(await leftovers(double)).toEqual([]);
    } finally {
      await stopDouble(double);
    }
  });
});
