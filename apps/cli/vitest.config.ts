import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "cli",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Each case starts the CLI (a node process) a few times against a real server: seconds on a busy machine.
    testTimeout: 60_000,
  },
});
