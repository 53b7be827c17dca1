import { BackendUnavailableError } from "@code-interpreter/core";
import { afterAll, describe, expect, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, dockerAvailable, fileLabels, removeLabelled, testSettings } from "./support.js";

const available = await dockerAvailable();
const labels = fileLabels();

// Creating a backend runs its start-up trial (a container) before the execution: seconds beside CI's other lane.
describe.skipIf(!available)("OCI runtime (PYTHON_EXECUTOR_DOCKER_RUNTIME)", { timeout: 120_000 }, () => {
  let backend: DockerBackend | undefined;
  afterAll(async () => {
    await backend?.close();
    await removeLabelled(labels);
  });

  it("refuses at creation a runtime the engine does not have, saying how to register it", async () => {
    const refused = createDockerBackend({ ...testSettings(labels), runtime: "no-such-runtime", pool: false });
    await expect(refused).rejects.toSatisfy((error) => BackendUnavailableError.isInstance(error));
    await expect(refused).rejects.toThrow(/no-such-runtime.*not registered.*daemon\.json/);
    expect(await containersLabelled(labels, { includeWarm: true })).toEqual([]);
  });

  it("runs code under a runtime the engine has", async () => {
    backend = await createDockerBackend({ ...testSettings(labels), runtime: "runc", pool: false });
    const result = await backend.execute({ code: "print(1)", timeoutMs: 60_000, lastLineInteractive: true, files: [] });
    expect(result).toMatchObject({ stdout: "1\n", exitCode: 0 });
  });
});
