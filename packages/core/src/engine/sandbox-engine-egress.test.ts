import { afterEach, describe, expect, it } from "vitest";
import { InvalidRequestError } from "../errors.js";
import type { NetworkPolicy } from "../network/egress.js";
import { FAKE_LIMITS, FakeDriver, type FakeDriverOptions } from "../testing/fake-driver.js";
import { MEMORY_EGRESS_ENV, MemoryEgressGateway } from "../testing/memory-egress.js";
import { SandboxEngine, type SandboxEngineOptions } from "./sandbox-engine.js";

/**
 * The engine's side of the egress seam: which sandboxes get a way out, what
 * their code's environment and answers hold, and that every way out is
 * closed with its sandbox. The real proxy is another package
 * (@code-interpreter/egress, which builds on core), so these tests use an
 * in-memory gateway (testing/memory-egress.ts) that records what it was
 * asked; the fake driver stands for the platform, as in sandbox-engine.test.ts.
 */

const LIMITS = FAKE_LIMITS;

const POLICY: NetworkPolicy = { allow_out: ["pypi.org", "*.pythonhosted.org"], deny_out: [] };
const PROXY_ENV = MEMORY_EGRESS_ENV;

const engines: SandboxEngine[] = [];

afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

function setUp(driverOptions: FakeDriverOptions = {}, engineOptions: Partial<SandboxEngineOptions> = {}) {
  const driver = new FakeDriver({ egress: true, ...driverOptions });
  const gateway = new MemoryEgressGateway();
  const engine = new SandboxEngine(driver, {
    limits: LIMITS,
    cgroup: true,
    clock: driver.clock,
    warn: () => {},
    egress: gateway,
    ...engineOptions,
  });
  engines.push(engine as SandboxEngine);
  return { driver, engine, gateway };
}

const execution = (extra: object = {}) => ({ code: "print(1)", timeoutMs: 5000, lastLineInteractive: true, files: [], ...extra });
const bash = (sessionId: string) => ({ sessionId, language: "bash" as const, code: "curl https://pypi.org", timeoutMs: 5000 });

describe("SandboxEngine: executions with network", () => {
  it("starts a cold sandbox bound to its own way out, with the proxy's settings in the code's environment", async () => {
    const { driver, engine, gateway } = setUp({}, { pool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    await engine.execute(execution({ network: POLICY, secrets: ["openai"], tenant: "acme" }));
    const [attachment] = gateway.attachments;
    expect(attachment?.request).toMatchObject({ policy: POLICY, secrets: ["openai"], tenant: "acme" });
    const start = driver.calls.find((call) => call.operation === "start" && call.sandbox === attachment?.request.sandboxName);
    expect(start?.options).toMatchObject({ warm: false, egress: { hostDirectory: attachment?.hostDirectory }, env: PROXY_ENV });
    expect(driver.calls.filter((call) => call.operation === "claim")).toEqual([]);
    const cold = driver.sandboxes.get(attachment?.request.sandboxName ?? "");
    expect(cold?.warm).toBe(false);
    expect(driver.runnersOf(cold?.name ?? "")[0]?.requests[0]?.header.env).toMatchObject(PROXY_ENV);
  });

  it("answers with what the code tried, then closes the way out", async () => {
    const { driver, engine, gateway } = setUp();
    driver.respond = () => {
      gateway.attachments[0]?.attempts.push(
        { host: "pypi.org", port: 443, allowed: true },
        { host: "evil.example", port: 443, allowed: false, reason: "not in allow_out" },
      );
      return { stdout: "ok\n" };
    };
    const result = await engine.execute(execution({ network: POLICY }));
    expect(result.network).toEqual([
      { host: "pypi.org", port: 443, allowed: true },
      { host: "evil.example", port: 443, allowed: false, reason: "not in allow_out" },
    ]);
    expect(gateway.unclosed()).toEqual([]);
  });

  it("without network: no way out is opened and the answer has no network field", async () => {
    const { engine, gateway } = setUp();
    const result = await engine.execute(execution());
    expect("network" in result).toBe(false);
    expect(gateway.attachments).toEqual([]);
  });

  it("closes the way out when the sandbox fails to start, and when the execution is aborted", async () => {
    const { driver, engine, gateway } = setUp();
    const starting = driver.hold("start");
    const failing = engine.execute(execution({ network: POLICY }));
    await starting.reached;
    starting.fail(new Error("the platform refused"));
    await expect(failing).rejects.toThrow(/the platform refused/);

    const abort = new AbortController();
    driver.respond = () => new Promise(() => {});
    const aborted = engine.execute(execution({ network: POLICY, signal: abort.signal }));
    await until(() => driver.runners.length > 0);
    abort.abort(new Error("the client went away"));
    await expect(aborted).rejects.toThrow(/the client went away/);
    expect(gateway.attachments).toHaveLength(2);
    expect(gateway.unclosed()).toEqual([]);
  });

  it("refuses network with 422 when there is no gateway, or the backend cannot bind one in; nothing is started", async () => {
    const withoutGateway = setUp({}, { egress: undefined });
    await expect(withoutGateway.engine.execute(execution({ network: POLICY }))).rejects.toThrow(
      /this server offers no network egress.*EGRESS_ALLOW=none/,
    );
    const withoutCapability = setUp({ egress: false });
    const refused = withoutCapability.engine.execute(execution({ network: POLICY }));
    await expect(refused).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(refused).rejects.toThrow(/no network egress on the fake backend/);
    expect(withoutGateway.driver.calls.concat(withoutCapability.driver.calls).filter((call) => call.operation === "start")).toEqual([]);
    expect(withoutCapability.gateway.attachments).toEqual([]);
  });

  it("refuses secrets without network, and passes on the gateway's 422 for an unknown secret", async () => {
    const { driver, engine, gateway } = setUp();
    await expect(engine.execute(execution({ secrets: ["openai"] }))).rejects.toThrow(/secrets need `network`/);
    await expect(engine.execute(execution({ network: POLICY, secrets: ["unknown"] }))).rejects.toBeInstanceOf(InvalidRequestError);
    expect(driver.calls.filter((call) => call.operation === "start")).toEqual([]);
    expect(gateway.attachments).toEqual([]);
  });
});

describe("SandboxEngine: sessions with network", () => {
  it("makes the session cold with its way out, keeps it for the session's life, and answers commands with their attempts", async () => {
    const { driver, engine, gateway } = setUp({}, { sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    const session = await engine.createSession({ ttlSeconds: 60, files: [], network: POLICY, tenant: "acme" });
    const [attachment] = gateway.attachments;
    expect(attachment?.request).toMatchObject({ sandboxName: session.id, tenant: "acme", secrets: [] });
    expect(session.network).toEqual(POLICY);
    const created = driver.calls.find((call) => call.operation === "createSession" && call.sandbox === session.id);
    expect(created?.options).toMatchObject({ egress: { hostDirectory: `/egress/${session.id}` }, env: PROXY_ENV });
    expect(created?.options).not.toHaveProperty("warm", true);
    expect(driver.calls.filter((call) => call.operation === "claimSession")).toEqual([]);

    driver.respond = () => {
      attachment?.attempts.push({ host: "pypi.org", port: 443, allowed: true });
      return {};
    };
    const result = await engine.runInSession(bash(session.id));
    expect(result.network).toEqual([{ host: "pypi.org", port: 443, allowed: true }]);
    expect(driver.runnersOf(session.id, "commands")[0]?.requests.at(-1)?.header.env).toMatchObject(PROXY_ENV);
    await engine.runInSession({ ...bash(session.id), language: "python" });
    expect(driver.calls.find((call) => call.operation === "startKernel" && call.sandbox === session.id)?.options).toMatchObject({
      env: PROXY_ENV,
    });
    expect((await engine.getSession(session.id)).network).toEqual(POLICY);
    expect(attachment?.closes).toBe(0);

    const plain = await engine.createSession({ ttlSeconds: 60, files: [] });
    expect("network" in plain).toBe(false);
    expect("network" in (await engine.runInSession(bash(plain.id)))).toBe(false);
  });

  it("replaces a live session's policy, and refuses one without network or outside the bounds with 422", async () => {
    const { engine, gateway } = setUp();
    const session = await engine.createSession({ ttlSeconds: 60, files: [], network: POLICY });
    const tighter = { allow_out: ["pypi.org"], deny_out: ["203.0.113.7/32"] };
    expect((await engine.updateSessionNetwork(session.id, tighter)).network).toEqual(tighter);
    expect(gateway.attachments[0]?.updates).toEqual([tighter]);
    expect((await engine.getSession(session.id)).network).toEqual(tighter);
    await expect(engine.updateSessionNetwork(session.id, { allow_out: ["outside.example"], deny_out: [] })).rejects.toBeInstanceOf(
      InvalidRequestError,
    );
    expect((await engine.getSession(session.id)).network).toEqual(tighter);

    const plain = await engine.createSession({ ttlSeconds: 60, files: [] });
    await expect(engine.updateSessionNetwork(plain.id, tighter)).rejects.toThrow(/has no network/);
    await expect(engine.updateSessionNetwork("code-session-00000000-0000-0000-0000-000000000000", tighter)).rejects.toThrow(/not found/);
  });

  it("closes a session's way out when it is deleted, reaped, fails to be made, or the engine closes", async () => {
    const { driver, engine, gateway } = setUp();
    const deleted = await engine.createSession({ ttlSeconds: 60, files: [], network: POLICY });
    await engine.deleteSession(deleted.id);
    expect(gateway.attachments[0]?.closes).toBe(1);

    const reaped = await engine.createSession({ ttlSeconds: 1, files: [], network: POLICY });
    driver.clock.advance(2000);
    expect(await engine.reapExpiredSessions()).toContain(reaped.id);
    expect(gateway.attachments[1]?.closes).toBe(1);

    const creating = driver.hold("createSession");
    const failing = engine.createSession({ ttlSeconds: 60, files: [], network: POLICY });
    await creating.reached;
    creating.fail(new Error("no room"));
    await expect(failing).rejects.toThrow(/no room/);
    expect(gateway.attachments[2]?.closes).toBe(1);

    // Removed behind this server's back (another replica deleted it): the next reap pass lets its way out go.
    const elsewhere = await engine.createSession({ ttlSeconds: 600, files: [], network: POLICY });
    const record = driver.sandboxes.get(elsewhere.id);
    if (record) record.state = "removed";
    await engine.reapExpiredSessions();
    expect(gateway.attachments[3]?.closes).toBe(1);

    await engine.createSession({ ttlSeconds: 600, files: [], network: POLICY });
    await engine.close();
    expect(gateway.unclosed()).toEqual([]);
  });
});

/** Lets the engine's pending work run (event-loop turns, no timers), until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1000; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error("the condition never held");
}
