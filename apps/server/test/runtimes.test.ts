import type { Backend } from "@code-interpreter/core";
import { SandboxEngine } from "@code-interpreter/core/engine";
import type { SandboxRuntime } from "@code-interpreter/core/sandbox";
import { FAKE_LIMITS, FakeDriver } from "@code-interpreter/core/testing";
import { afterEach, describe, expect, it } from "vitest";
import { RuntimeRouter } from "../src/runtime-router.js";
import { trialSandbox } from "../src/trial-sandbox.js";
import { createTestApp, json, postJson, type TestApp } from "./fixture.js";

// Routing between runtimes is the server's own logic: these tests run it over in-memory backends (core's
// SandboxEngine on a FakeDriver, whose runners speak the real wire protocol), one per runtime, each answering
// with its runtime's name. That gVisor really runs the code is test/runtimes.gvisor.test.ts's job.

const LIMITS = FAKE_LIMITS;

/** A backend whose every command prints `ran on <runtime>`, and its driver (what it made). */
function fakeBackend(runtime: SandboxRuntime, answer: (runtime: SandboxRuntime) => object = () => ({})) {
  const driver = new FakeDriver({ respond: () => ({ stdout: `ran on ${runtime}\n`, ...answer(runtime) }) });
  const backend = new SandboxEngine(driver, { limits: LIMITS, cgroup: true, clock: driver.clock, warn: () => {} });
  return { driver, backend: backend as Backend };
}

function router(runtimes: SandboxRuntime[], defaultRuntime: SandboxRuntime = runtimes[0] as SandboxRuntime) {
  const fakes = new Map(runtimes.map((runtime) => [runtime, fakeBackend(runtime)] as const));
  const backend = new RuntimeRouter(new Map([...fakes].map(([runtime, fake]) => [runtime, fake.backend])), defaultRuntime);
  return { backend, drivers: new Map([...fakes].map(([runtime, fake]) => [runtime, fake.driver])) };
}

/** Sandboxes a driver made and still has. */
const live = (driver: FakeDriver | undefined) => driver?.liveSandboxes() ?? [];

let test: TestApp | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

async function appOffering(runtimes: SandboxRuntime[], defaultRuntime?: SandboxRuntime) {
  const made = router(runtimes, defaultRuntime);
  test = await createTestApp({}, undefined, async () => made.backend);
  return { app: test.app, drivers: made.drivers };
}

describe("a server offering default and gvisor", () => {
  it("runs an execution in the runtime it asks for, and in the default one when it names none", async () => {
    const { app, drivers } = await appOffering(["default", "gvisor"]);
    const gvisor = await postJson(app, "/v1/execute", { code: "print(1)", runtime: "gvisor" });
    expect(gvisor.status).toBe(200);
    expect((await json(gvisor)).stdout).toBe("ran on gvisor\n");
    expect((await json(await postJson(app, "/v1/execute", { code: "print(1)" }))).stdout).toBe("ran on default\n");
    expect((await json(await postJson(app, "/v1/execute", { code: "print(1)", runtime: "default" }))).stdout).toBe("ran on default\n");
    expect(drivers.get("gvisor")?.calls.filter((call) => call.operation === "start")).toHaveLength(1);
    expect(drivers.get("default")?.calls.filter((call) => call.operation === "start")).toHaveLength(2);
  });

  it("streams in the runtime it asks for", async () => {
    const { app } = await appOffering(["default", "gvisor"]);
    const response = await postJson(app, "/v1/execute/stream", { code: "print(1)", runtime: "gvisor" });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('"data":"ran on gvisor\\n"');
  });

  it("runs a background execution in the runtime it asks for", async () => {
    const { app } = await appOffering(["default", "gvisor"]);
    const accepted = await json(await postJson(app, "/v1/execute", { code: "print(1)", runtime: "gvisor", background: true }));
    let execution = await json(await app.request(accepted.status_url));
    for (let tries = 0; execution.status === "running" && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      execution = await json(await app.request(accepted.status_url));
    }
    expect(execution.status).toBe("completed");
    expect(execution.result.stdout).toBe("ran on gvisor\n");
  });

  it("finds a gvisor session, runs in it and deletes it through the router, on gvisor's backend only", async () => {
    const { app, drivers } = await appOffering(["default", "gvisor"]);
    const created = await postJson(app, "/v1/sessions", { runtime: "gvisor" });
    expect(created.status).toBe(201);
    const session = await json(created);
    // onyx's answer, unchanged: the runtime shows on GET.
    expect(Object.keys(session).sort()).toEqual(["expires_at", "session_id"]);
    expect(live(drivers.get("gvisor"))).toContain(session.session_id);
    expect(live(drivers.get("default"))).toEqual([]);

    expect(await json(await app.request(`/v1/sessions/${session.session_id}`))).toEqual({
      ...session,
      runtime: "gvisor",
      state: "running",
      memory: false,
    });
    const bash = await postJson(app, `/v1/sessions/${session.session_id}/bash`, { cmd: "uname -r" });
    expect((await json(bash)).stdout).toBe("ran on gvisor\n");
    const python = await postJson(app, `/v1/sessions/${session.session_id}/python`, { code: "1" });
    expect((await json(python)).stdout).toBe("ran on gvisor\n");
    const kept = await postJson(app, `/v1/sessions/${session.session_id}/keepalive`, { ttl_seconds: 60 });
    expect(kept.status).toBe(200);

    expect((await app.request(`/v1/sessions/${session.session_id}`, { method: "DELETE" })).status).toBe(204);
    expect(live(drivers.get("gvisor"))).toEqual([]);
    expect((await app.request(`/v1/sessions/${session.session_id}`)).status).toBe(404);
    expect((await postJson(app, `/v1/sessions/${session.session_id}/bash`, { cmd: "true" })).status).toBe(404);
  });

  it("lists the sessions of every runtime, each with its runtime", async () => {
    const { app } = await appOffering(["default", "gvisor"]);
    const onDefault = await json(await postJson(app, "/v1/sessions", {}));
    const onGvisor = await json(await postJson(app, "/v1/sessions", { runtime: "gvisor" }));
    const { sessions } = await json(await app.request("/v1/sessions"));
    expect(sessions).toEqual(
      expect.arrayContaining([
        { ...onDefault, runtime: "default", state: "running", memory: false },
        { ...onGvisor, runtime: "gvisor", state: "running", memory: false },
      ]),
    );
    expect(sessions).toHaveLength(2);
  });

  it("finds a session another router made (a restarted server or a second replica): sessions live on the backends", async () => {
    const made = router(["default", "gvisor"]);
    const session = await made.backend.createSession({ ttlSeconds: 60, files: [], runtime: "gvisor" });
    const restarted = new RuntimeRouter(made.backend.backends, "default");
    expect((await restarted.getSession(session.id)).runtime).toBe("gvisor");
    const result = await restarted.runInSession({ sessionId: session.id, language: "bash", code: "true", timeoutMs: 5000 });
    expect(result.stdout).toBe("ran on gvisor\n");
    await restarted.close();
  });

  it("says which runtimes it offers, and its default, in GET /v1/capabilities", async () => {
    const { app } = await appOffering(["default", "gvisor"], "gvisor");
    const response = await app.request("/v1/capabilities");
    expect(response.status).toBe(200);
    const capabilities = await json(response);
    expect(capabilities).toMatchObject({
      backend: "fake",
      runtimes: ["default", "gvisor"],
      default_runtime: "gvisor",
      languages: ["python", "bash", "javascript"],
      sessions: true,
      stateful_python: true,
      features: { background_executions: true, idempotency_keys: true },
      memory_snapshots: [],
      file_store: "dir",
    });
    expect((await json(await postJson(app, "/v1/execute", { code: "print(1)" }))).stdout).toBe("ran on gvisor\n");
  });
});

describe("a runtime the server does not offer", () => {
  it("is refused with 422 naming it and the offered ones, before any sandbox starts", async () => {
    const { app, drivers } = await appOffering(["default"]);
    for (const path of ["/v1/execute", "/v1/execute/stream"]) {
      const refused = await postJson(app, path, { code: "print(1)", runtime: "gvisor" });
      expect(refused.status).toBe(422);
      expect((await json(refused)).detail).toBe(
        'runtime "gvisor" is not offered by this server; it offers: default (SANDBOX_RUNTIMES; default default)',
      );
    }
    const background = await postJson(app, "/v1/execute", { code: "print(1)", runtime: "gvisor", background: true });
    expect(background.status).toBe(422);
    const session = await postJson(app, "/v1/sessions", { runtime: "gvisor" });
    expect(session.status).toBe(422);
    expect((await json(session)).detail).toContain('runtime "gvisor" is not offered');
    expect(drivers.get("default")?.calls.filter((call) => call.operation === "start" || call.operation === "createSession")).toEqual([]);
  });

  it("is refused with 422 when it is no runtime at all", async () => {
    const { app } = await appOffering(["default", "gvisor"]);
    const refused = await postJson(app, "/v1/execute", { code: "print(1)", runtime: "kata" });
    expect(refused.status).toBe(422);
    expect((await json(refused)).detail).toBe('runtime "kata" is not a sandbox runtime; runtimes are: default, gvisor');
  });
});

describe("the start-up trial", () => {
  it("runs a sandbox in every runtime offered, and names the runtime that cannot run code", async () => {
    const fine = fakeBackend("default", () => ({ stdout: "1\n" }));
    const broken = fakeBackend("gvisor", () => ({ exitCode: 1, stdout: "", stderr: "runsc: cannot create sandbox" }));
    const both = new RuntimeRouter(
      new Map([
        ["default", fine.backend],
        ["gvisor", broken.backend],
      ]),
      "default",
    );
    const refused = await trialSandbox(both).then(
      () => "it passed",
      (error: Error) => error.message,
    );
    await both.close();
    expect(refused).toContain("runtime gvisor");
    expect(refused).toContain("runsc: cannot create sandbox");
    expect(refused).not.toContain("runtime default");
    expect(fine.driver.calls.filter((call) => call.operation === "start")).toHaveLength(1);
  });
});
