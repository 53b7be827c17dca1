import { sessionInitArgv } from "@code-interpreter/core/engine";
import Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { egressSessionInitArgv, execContainerSpec, hardenedHostConfig, sessionContainerSpec } from "./container-spec.js";
import { type DockerBackendSettings, defaultDockerBackendSettings } from "./docker-backend-settings.js";
import { DockerDriver, dockerEgressRefusal } from "./docker-driver.js";

const settings: DockerBackendSettings = { ...defaultDockerBackendSettings(), docker: new Dockerode() };
const mount = { Type: "bind", Source: "/srv/egress/code-exec-x", Target: "/run/code-interpreter/egress", ReadOnly: true };

describe("egress in container specs (issue 22)", () => {
  it("binds the egress directory read-only and keeps the network none; nothing without one", () => {
    const exec = execContainerSpec(settings, "code-exec-x", ["python3"], 1234, { egressDir: mount.Source });
    expect(exec.HostConfig).toMatchObject({ NetworkMode: "none", Mounts: [mount] });
    expect(exec.HostConfig?.Binds).toBeUndefined();
    expect(hardenedHostConfig(settings)).not.toHaveProperty("Mounts");
    expect(execContainerSpec(settings, "code-exec-x", ["python3"], 1234).HostConfig).not.toHaveProperty("Mounts");
  });

  it("starts a session's forwarder from its init, and never gives a warm session container a way out", () => {
    const session = sessionContainerSpec(settings, "code-session-y", 99, undefined, false, mount.Source);
    expect(session.HostConfig).toMatchObject({ NetworkMode: "none", Mounts: [mount] });
    expect(session.Cmd).toEqual(egressSessionInitArgv());
    const source = egressSessionInitArgv()[3] as string;
    // The runner's modules, then the forwarder, then the usual init; the runner's own __main__ is not run.
    expect(source).toContain('start_forwarder("/run/code-interpreter/egress/proxy.sock", 3128)');
    expect(source.endsWith(sessionInitArgv()[3] as string)).toBe(true);
    expect(source).not.toContain('sys.modules["code_interpreter_runner.__main__"].main(sys.argv)');
    expect(sessionContainerSpec(settings, "code-session-y", 99).Cmd).toEqual(sessionInitArgv());
    expect(() => sessionContainerSpec(settings, "code-session-y", 99, undefined, true, mount.Source)).toThrow(/warm/);
  });

  it("is offered only where a bound host socket works: a local engine, runc, network none", () => {
    expect(dockerEgressRefusal(settings)).toBeUndefined();
    expect(new DockerDriver({ ...settings, warn: () => {} }).capabilities.egress).toBe(true);
    const remote = new Dockerode({ host: "192.0.2.10", port: 2376, protocol: "https" });
    expect(dockerEgressRefusal({ ...settings, docker: remote })).toMatch(/engine at https:\/\/192\.0\.2\.10:2376 is remote/);
    expect(dockerEgressRefusal({ ...settings, sandboxRuntime: "gvisor" }, ["--oci-seccomp"])).toMatch(
      /gVisor runtime \(runsc\) is registered without --host-uds=open/,
    );
    expect(dockerEgressRefusal({ ...settings, sandboxRuntime: "gvisor" }, ["--oci-seccomp", "--host-uds=open"])).toBeUndefined();
    expect(dockerEgressRefusal({ ...settings, runtime: "kata-runtime" })).toMatch(/runtime kata-runtime/);
    expect(dockerEgressRefusal({ ...settings, network: "bridge" })).toMatch(/network bridge/);
    const warnings: string[] = [];
    const driver = new DockerDriver({
      ...settings,
      sandboxRuntime: "gvisor",
      egress: {} as never,
      warn: (message) => warnings.push(message),
    });
    expect(driver.capabilities.egress).toBe(false);
    expect(warnings).toEqual([expect.stringMatching(/^network egress is not offered by the docker backend: its gVisor runtime/)]);
  });
});
