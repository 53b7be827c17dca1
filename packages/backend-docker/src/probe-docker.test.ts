import { describe, expect, it } from "vitest";
import { missingOciSeccomp } from "./probe-docker.js";

describe("a registered gVisor runtime", () => {
  it("is accepted with --oci-seccomp among its runtimeArgs", () => {
    expect(missingOciSeccomp("runsc", ["--platform=ptrace", "--network=none", "--oci-seccomp"])).toBeUndefined();
    expect(missingOciSeccomp("runsc", ["--oci-seccomp=true"])).toBeUndefined();
  });

  it("is refused without it, or with it turned off, with the fix", () => {
    for (const args of [undefined, [], ["--platform=ptrace", "--network=none"], ["--oci-seccomp=false"]]) {
      const missing = missingOciSeccomp("runsc", args);
      expect(missing?.problem).toMatch(/^gVisor's runtime runsc is registered with the Docker engine without --oci-seccomp/);
      expect(missing?.fix).toContain('add "--oci-seccomp" to its "runtimeArgs" in /etc/docker/daemon.json');
    }
  });
});
