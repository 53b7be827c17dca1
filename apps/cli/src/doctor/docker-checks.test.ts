import { describe, expect, it } from "vitest";
import { checkDockerEgress } from "./docker-checks.js";

describe("doctor: network egress on the docker backend", () => {
  it("is offered with an engine on this host, and says why not when the engine is remote or the state directory unshared", () => {
    expect(checkDockerEgress({}, false)).toMatchObject({ status: "ok", detail: expect.stringMatching(/^offered/) });
    expect(checkDockerEgress({ DOCKER_HOST: "unix:///run/docker.sock" }, false).status).toBe("ok");
    expect(checkDockerEgress({ DOCKER_HOST: "tcp://10.0.0.5:2376" }, false)).toMatchObject({
      status: "warn",
      detail: expect.stringMatching(/engine at tcp:\/\/10\.0\.0\.5:2376 is remote/),
    });
    expect(checkDockerEgress({}, true)).toMatchObject({ status: "warn", fix: expect.stringMatching(/EGRESS_STATE_DIR=/) });
    expect(checkDockerEgress({ EGRESS_STATE_DIR: "/srv/ci-egress" }, true).status).toBe("ok");
    expect(checkDockerEgress({ EGRESS_ALLOW: "none", DOCKER_HOST: "tcp://10.0.0.5:2376" }, true)).toMatchObject({ status: "ok" });
  });
});
