import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { dockerAvailable, fileLabels, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe.skipIf(!(await dockerAvailable()))("the executor image's data stack", { timeout: 120_000 }, () => {
  let backend: DockerBackend;
  beforeAll(async () => {
    backend = await createDockerBackend(testSettings(labels));
  });
  afterAll(async () => {
    await backend?.close();
    await removeLabelled(labels);
  });

  it("turns a CSV into a pandas summary and a matplotlib PNG that comes back as a file", async () => {
    const code = [
      "import pandas as pd, matplotlib.pyplot as plt, scipy, openpyxl",
      "frame = pd.read_csv('sales.csv')",
      "print(frame['amount'].sum())",
      "frame.plot(x='month', y='amount')",
      "plt.savefig('out/chart.png')",
    ].join("\n");
    const result = await backend.execute({
      code: `import os\nos.makedirs('out', exist_ok=True)\n${code}`,
      timeoutMs: 60_000,
      lastLineInteractive: false,
      files: [{ path: "sales.csv", content: Buffer.from("month,amount\n1,10\n2,32\n3,0\n") }],
    });
    expect(result.stderr).toBe("");
    expect(result).toMatchObject({ stdout: "42\n", exitCode: 0, timedOut: false });
    expect(result.files.map((file) => file.path)).toEqual(["out/chart.png"]);
    expect(result.files[0]?.content.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
  });
});
