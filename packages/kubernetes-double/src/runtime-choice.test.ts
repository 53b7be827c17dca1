import Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { KubernetesDouble } from "./kubernetes-double.js";

const noEngine = () => new Dockerode({ socketPath: "/nonexistent/docker.sock" });

describe("KubernetesDouble.start", () => {
  it("runs pods as processes when no Docker engine answers", async () => {
    const double = await KubernetesDouble.start({ docker: noEngine() });
    try {
      expect(double.runtimeName).toBe("process");
    } finally {
      await double.stop();
    }
  });

  it("fails with runtime docker when no Docker engine answers", async () => {
    await expect(KubernetesDouble.start({ docker: noEngine(), runtime: "docker" })).rejects.toThrow(/no Docker engine answers/);
  });

  it("uses the process runtime when asked to", async () => {
    const double = await KubernetesDouble.start({ runtime: "process" });
    try {
      expect(double.runtimeName).toBe("process");
      expect(await double.containers()).toEqual([]);
    } finally {
      await double.stop();
    }
  });
});
