import { describe, expect, it } from "vitest";
import { DEFAULT_PRELOAD, defaultContainerSandboxSettings, defaultSandboxSettings, sandboxByteLimits } from "./sandbox-settings.js";

describe("sandbox settings", () => {
  it("default to the limits the README documents", () => {
    const { warn, ...settings } = defaultSandboxSettings();
    expect(settings).toEqual({
      maxOutputBytes: 1024 * 1024,
      memoryLimitMb: 512,
      cpuTimeLimitSec: 30,
      maxFileSizeMb: 100,
      workspaceSizeMb: 256,
      maxProcesses: 128,
      sandboxUid: 65532,
      pool: { min: 1, max: 4, idleTimeoutMs: 60_000 },
      sessionPool: { min: 1, max: 16, idleTimeoutMs: 60_000 },
      sandboxRuntime: "default",
      preload: DEFAULT_PRELOAD,
    });
    expect(typeof warn).toBe("function");
  });

  it("give container backends the executor image, one CPU and no extra labels", () => {
    expect(defaultContainerSandboxSettings()).toMatchObject({ image: "code-interpreter-executor:latest", cpus: 1, labels: {} });
  });

  it("hand out fresh objects, so one backend's change does not reach another's", () => {
    const first = defaultContainerSandboxSettings();
    first.labels.team = "a";
    expect(defaultContainerSandboxSettings().labels).toEqual({});
    expect(defaultSandboxSettings().pool).not.toBe(defaultSandboxSettings().pool);
  });
});

describe("sandboxByteLimits", () => {
  it("converts the MB settings to bytes", () => {
    expect(sandboxByteLimits({ workspaceSizeMb: 256, maxFileSizeMb: 100, memoryLimitMb: 512 })).toEqual({
      workspaceBytes: 256 * 2 ** 20,
      fileSizeBytes: 100 * 2 ** 20,
      memoryBytes: 512 * 2 ** 20,
    });
  });

  it("caps the file size at the workspace's size", () => {
    expect(sandboxByteLimits({ workspaceSizeMb: 16, maxFileSizeMb: 100, memoryLimitMb: 256 }).fileSizeBytes).toBe(16 * 2 ** 20);
  });
});
