import { describe, expect, it } from "vitest";
import { kernelArgv, runnerArgv, serveArgv, withEgressForwarder } from "./runner-commands.js";

describe("withEgressForwarder", () => {
  it("puts --egress PORT SOCKET right after the runner's source, before its mode", () => {
    for (const argv of [runnerArgv("python3", { preload: ["json"] }), serveArgv(), kernelArgv()]) {
      const source = argv.indexOf("-c") + 1;
      const wrapped = withEgressForwarder(argv, "/run/code-interpreter/egress/proxy.sock", 3128);
      expect(wrapped.slice(0, source + 1)).toEqual(argv.slice(0, source + 1));
      expect(wrapped.slice(source + 1, source + 4)).toEqual(["--egress", "3128", "/run/code-interpreter/egress/proxy.sock"]);
      expect(wrapped.slice(source + 4)).toEqual(argv.slice(source + 1));
    }
  });

  it("refuses a command line that is not the runner's", () => {
    expect(() => withEgressForwarder(["bash", "-lc"], "/x", 3128)).toThrow(/not a runner command line/);
  });
});
