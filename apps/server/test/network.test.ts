import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "@code-interpreter/core";
import { SandboxEngine } from "@code-interpreter/core/engine";
import { FAKE_LIMITS, FakeDriver, MemoryEgressGateway } from "@code-interpreter/core/testing";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { openEgress } from "../src/egress.js";
import { createMetrics } from "../src/observability/metrics.js";
import { RuntimeRouter } from "../src/runtime-router.js";
import { createTestApp, json, postJson, type TestApp } from "./fixture.js";

// The routes of issue 22's `network` and `secrets`: what they pass to the backend, what answers hold, and their
// 422s. The egress proxy itself is @code-interpreter/egress (its own tests, and the backends' contract suites
// run it for real); here the backend is core's SandboxEngine on a FakeDriver with an in-memory gateway, so
// these tests are about the HTTP surface alone and need no sandbox.

const LIMITS = FAKE_LIMITS;
const POLICY = { allow_out: ["pypi.org", "*.pythonhosted.org"], deny_out: ["203.0.113.7/32"] };
/** Today's answer of an execution, field for field (onyx's, then rich results): without `network` nothing else. */
const EXECUTE_FIELDS = ["stdout", "stderr", "exit_code", "timed_out", "duration_ms", "files", "results", "error"];

let test: TestApp | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

/** An app over a fake backend; `offered`: the server has an egress proxy (a gateway, and secrets requests may name). */
async function appWith({ offered = true, driverEgress = true } = {}) {
  const driver = new FakeDriver({ egress: driverEgress, respond: () => ({ stdout: "ran\n" }) });
  const gateway = new MemoryEgressGateway({ secrets: ["openai"] });
  const engine = new SandboxEngine(driver, {
    limits: LIMITS,
    cgroup: true,
    clock: driver.clock,
    warn: () => {},
    ...(offered ? { egress: gateway } : {}),
  });
  const backend = new RuntimeRouter(new Map([["default", engine as Backend]]), "default");
  test = await createTestApp(
    {},
    undefined,
    async () => backend,
    offered ? { egress: { secrets: [{ name: "openai" }, { name: "github", tenants: ["acme"] }] } } : {},
  );
  const metrics = createMetrics({ backend, store: test.store });
  // Whatever the code "tries", the gateway reports: one allowed, one denied.
  driver.respond = (request) => {
    for (const attachment of gateway.attachments) {
      if (attachment.closes === 0) {
        attachment.attempts.push({ host: "pypi.org", port: 443, allowed: true });
        attachment.attempts.push({ host: "169.254.169.254", port: 80, allowed: false, reason: "link-local addresses are always denied" });
      }
    }
    return { stdout: request.header.env.HTTPS_PROXY ? "proxied\n" : "ran\n" };
  };
  return { app: test.app, driver, gateway, metrics };
}

describe("network on executions", () => {
  it("runs with a way out and answers with what the code tried; the way out is closed after", async () => {
    const { app, gateway } = await appWith();
    const response = await postJson(app, "/v1/execute", { code: "import urllib", network: POLICY, secrets: ["openai"] });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.stdout).toBe("proxied\n");
    expect(Object.keys(body)).toEqual([...EXECUTE_FIELDS, "network"]);
    expect(body.network).toEqual([
      { host: "pypi.org", port: 443, allowed: true },
      { host: "169.254.169.254", port: 80, allowed: false, reason: "link-local addresses are always denied" },
    ]);
    expect(gateway.attachments[0]?.request).toMatchObject({ policy: POLICY, secrets: ["openai"] });
    expect(gateway.unclosed()).toEqual([]);
  });

  it("without network the answer is today's, field for field, and no way out is opened", async () => {
    const { app, gateway } = await appWith();
    const body = await json(await postJson(app, "/v1/execute", { code: "print(1)" }));
    expect(Object.keys(body)).toEqual(EXECUTE_FIELDS);
    const stream = await (await postJson(app, "/v1/execute/stream", { code: "print(1)" })).text();
    expect(stream).not.toContain('"network"');
    expect(gateway.attachments).toEqual([]);
  });

  it("streams the attempts in the result event", async () => {
    const { app } = await appWith();
    const stream = await (await postJson(app, "/v1/execute/stream", { code: "x", network: POLICY })).text();
    expect(stream).toMatch(/event: result\n(id: \d+\n)?data: .*"network":\[\{"host":"pypi.org","port":443,"allowed":true\}/);
  });

  it("refuses with 422, saying why, when the server offers no egress, a secret is unknown, or secrets come without network", async () => {
    const plain = await appWith({ offered: false });
    const refused = await postJson(plain.app, "/v1/execute", { code: "1", network: POLICY });
    expect(refused.status).toBe(422);
    expect((await json(refused)).detail).toMatch(/this server offers no network egress.*EGRESS_ALLOW=none/);
    expect(plain.driver.liveSandboxes()).toEqual([]);
    await test?.close();

    const { app, driver } = await appWith();
    const unknown = await postJson(app, "/v1/execute", { code: "1", network: POLICY, secrets: ["github"] });
    expect(unknown.status).toBe(422);
    expect((await json(unknown)).detail).toContain('"github"');
    const secretsAlone = await postJson(app, "/v1/execute", { code: "1", secrets: ["openai"] });
    expect(secretsAlone.status).toBe(422);
    expect((await json(secretsAlone)).detail).toMatch(/secrets need `network`/);
    const outside = await postJson(app, "/v1/execute", { code: "1", network: { allow_out: ["outside.example"] } });
    expect(outside.status).toBe(422);
    expect(driver.calls.filter((call) => call.operation === "start")).toEqual([]);
  });

  it("refuses network on a backend that cannot bind the proxy in", async () => {
    const { app } = await appWith({ driverEgress: false });
    const response = await postJson(app, "/v1/execute", { code: "1", network: POLICY });
    expect(response.status).toBe(422);
    expect((await json(response)).detail).toMatch(/no network egress on the fake backend/);
  });
});

describe("network on sessions", () => {
  it("keeps the policy for the session's life, answers commands with their attempts, and shows the policy", async () => {
    const { app, gateway } = await appWith();
    const created = await postJson(app, "/v1/sessions", { network: POLICY });
    expect(created.status).toBe(201);
    const session = await json(created);
    expect(Object.keys(session)).toEqual(["session_id", "expires_at"]);
    const bash = await json(await postJson(app, `/v1/sessions/${session.session_id}/bash`, { cmd: "pip download x" }));
    expect(Object.keys(bash)).toEqual(["stdout", "stderr", "exit_code", "timed_out", "duration_ms", "network"]);
    expect(bash.network).toHaveLength(2);
    const python = await json(await postJson(app, `/v1/sessions/${session.session_id}/python`, { code: "1" }));
    expect(python.network).toHaveLength(2);
    const detail = await json(await app.request(`/v1/sessions/${session.session_id}`));
    expect(detail).toMatchObject({ session_id: session.session_id, runtime: "default", network: POLICY });

    expect((await app.request(`/v1/sessions/${session.session_id}`, { method: "DELETE" })).status).toBe(204);
    expect(gateway.of(session.session_id)?.closes).toBe(1);
  });

  it("a session without network answers as today, and GET shows no policy", async () => {
    const { app } = await appWith();
    const { session_id } = await json(await postJson(app, "/v1/sessions", {}));
    const bash = await json(await postJson(app, `/v1/sessions/${session_id}/bash`, { cmd: "true" }));
    expect(Object.keys(bash)).toEqual(["stdout", "stderr", "exit_code", "timed_out", "duration_ms"]);
    expect(await json(await app.request(`/v1/sessions/${session_id}`))).not.toHaveProperty("network");
  });

  it("PUT …/network replaces the policy: 200 with the session, 404 unknown, 422 bad policy or a session without network", async () => {
    const { app, gateway } = await appWith();
    const { session_id } = await json(await postJson(app, "/v1/sessions", { network: POLICY }));
    const put = (id: string, body: unknown) =>
      app.request(`/v1/sessions/${id}/network`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    const tighter = await put(session_id, { allow_out: ["pypi.org"] });
    expect(tighter.status).toBe(200);
    expect(await json(tighter)).toMatchObject({ session_id, network: { allow_out: ["pypi.org"], deny_out: [] } });
    expect(gateway.of(session_id)?.updates).toEqual([{ allow_out: ["pypi.org"], deny_out: [] }]);

    const bad = await put(session_id, { allow_out: ["not a host"] });
    expect(bad.status).toBe(422);
    expect((await json(bad)).detail).toContain('"not a host"');
    expect((await put(session_id, { allow_out: ["outside.example"] })).status).toBe(422);
    expect((await put("code-session-00000000-0000-0000-0000-000000000000", { allow_out: [] })).status).toBe(404);

    const plain = await json(await postJson(app, "/v1/sessions", {}));
    const withoutNetwork = await put(plain.session_id, { allow_out: ["pypi.org"] });
    expect(withoutNetwork.status).toBe(422);
    expect((await json(withoutNetwork)).detail).toMatch(/has no network/);
  });
});

describe("the operator's EGRESS_ALLOW", () => {
  /** An app whose egress proxy (or none) is what the server makes of `env`, over a fake backend that can bind it in. */
  async function appFromConfig(env: Record<string, string>) {
    const egress = await openEgress(loadConfig(env), () => {});
    const driver = new FakeDriver({ egress: true, respond: () => ({ stdout: "ran\n" }) });
    const engine = new SandboxEngine(driver, {
      limits: LIMITS,
      cgroup: true,
      clock: driver.clock,
      warn: () => {},
      ...(egress ? { egress: egress.gateway } : {}),
    });
    const backend = new RuntimeRouter(new Map([["default", engine as Backend]]), "default");
    test = await createTestApp({}, undefined, async () => backend, egress ? { egress: egress.offer } : {});
    return { app: test.app, egress };
  }

  it("unset, offers egress on a backend that has it, and makes the proxy's directory only for a request with network", async () => {
    // A temporary directory of this test's own stands for the system's, so nothing else's files are counted.
    const systemTemporary = process.env.TMPDIR;
    const temporary = await mkdtemp(join(tmpdir(), "ci-network-tmpdir-"));
    process.env.TMPDIR = temporary;
    const egressDirectories = async () => (await readdir(temporary)).filter((name) => name.startsWith("ci-egress-"));
    try {
      const { app, egress } = await appFromConfig({});
      expect((await json(await app.request("/v1/capabilities"))).network).toEqual({ offered: true, secrets: [] });
      expect(await egressDirectories()).toEqual([]);
      const response = await postJson(app, "/v1/execute", { code: "1", network: { allow_out: ["pypi.org"] } });
      expect(response.status).toBe(200);
      expect(await egressDirectories()).toHaveLength(1);
      await test?.close();
      test = undefined;
      await egress?.gateway.close();
      expect(await readdir(temporary)).toEqual([]);
    } finally {
      if (systemTemporary === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = systemTemporary;
      await rm(temporary, { recursive: true, force: true });
    }
  });

  it("none: offers no egress, and a request with network is refused naming EGRESS_ALLOW=none", async () => {
    const { app, egress } = await appFromConfig({ EGRESS_ALLOW: "none" });
    expect(egress).toBeUndefined();
    expect((await json(await app.request("/v1/capabilities"))).network).toEqual({ offered: false, secrets: [] });
    const refused = await postJson(app, "/v1/execute", { code: "1", network: { allow_out: ["pypi.org"] } });
    expect(refused.status).toBe(422);
    expect((await json(refused)).detail).toMatch(/this server offers no network egress \(its operator set EGRESS_ALLOW=none\)/);
  });
});

describe("GET /v1/capabilities and metrics", () => {
  it("says whether network is offered, and which secrets a request may name (never their values)", async () => {
    const offered = await appWith();
    expect((await json(await offered.app.request("/v1/capabilities"))).network).toEqual({ offered: true, secrets: ["openai"] });
    await test?.close();
    const plain = await appWith({ offered: false });
    expect((await json(await plain.app.request("/v1/capabilities"))).network).toEqual({ offered: false, secrets: [] });
    await test?.close();
    const kubernetesLike = await appWith({ driverEgress: false });
    expect((await json(await kubernetesLike.app.request("/v1/capabilities"))).network).toEqual({ offered: false, secrets: [] });
  });

  it("counts egress connections per tenant, allowed and denied", async () => {
    const { metrics } = await appWith();
    metrics.observeEgressAttempt("acme", true);
    metrics.observeEgressAttempt("acme", false);
    metrics.observeEgressAttempt(undefined, false);
    const text = await metrics.registry.metrics();
    expect(text).toContain('code_interpreter_egress_connections_total{backend="fake",tenant="acme",allowed="true"} 1');
    expect(text).toContain('code_interpreter_egress_connections_total{backend="fake",tenant="",allowed="false"} 1');
  });
});
