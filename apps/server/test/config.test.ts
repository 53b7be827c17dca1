import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";
import { egressOptions, openEgress } from "../src/egress.js";

describe("loadConfig", () => {
  it("uses the defaults when nothing is set, treating empty values as unset", () => {
    const config = loadConfig({ PORT: "", MAX_EXEC_TIMEOUT_MS: "" });
    expect(config).toMatchObject({
      EXECUTOR_BACKEND: "auto",
      HOST: "127.0.0.1",
      PORT: 8000,
      MAX_CONCURRENT_EXECUTIONS: 16,
      LOG_FORMAT: "plain",
    });
  });

  it("lets the session pool grow to 16 by default, within a warm-pool memory budget derived from MEMORY_LIMIT_MB unless set", () => {
    expect(loadConfig({})).toMatchObject({ SESSION_POOL_MAX: 16, SANDBOX_POOL_MAX: 4 });
    expect(loadConfig({}).WARM_POOL_MEMORY_MB).toBeUndefined();
    expect(loadConfig({ WARM_POOL_MEMORY_MB: "2048" })).toMatchObject({ WARM_POOL_MEMORY_MB: 2048 });
    expect(() => loadConfig({ WARM_POOL_MEMORY_MB: "-1" })).toThrow(/WARM_POOL_MEMORY_MB/);
  });

  it("defaults the durable-request settings and refuses a background limit below MAX_EXEC_TIMEOUT_MS", () => {
    expect(loadConfig({})).toMatchObject({
      MAX_BACKGROUND_TIMEOUT_MS: 3_600_000,
      EXECUTION_RESULT_TTL_SECONDS: 86_400,
      IDEMPOTENCY_TTL_SECONDS: 86_400,
    });
    expect(() => loadConfig({ MAX_EXEC_TIMEOUT_MS: "120000", MAX_BACKGROUND_TIMEOUT_MS: "60000" })).toThrow(
      /MAX_BACKGROUND_TIMEOUT_MS=60000: must be at least MAX_EXEC_TIMEOUT_MS \(120000\)/,
    );
    expect(() => loadConfig({ IDEMPOTENCY_TTL_SECONDS: "0" })).toThrow(/IDEMPOTENCY_TTL_SECONDS/);
  });

  it("offers the default runtime alone unless SANDBOX_RUNTIMES offers more, and refuses a list without SANDBOX_RUNTIME", () => {
    expect(loadConfig({})).toMatchObject({ SANDBOX_RUNTIME: "default", SANDBOX_RUNTIMES: ["default"] });
    expect(loadConfig({ SANDBOX_RUNTIME: "gvisor" })).toMatchObject({ SANDBOX_RUNTIME: "gvisor", SANDBOX_RUNTIMES: ["gvisor"] });
    expect(loadConfig({ SANDBOX_RUNTIMES: " default , gvisor,default" })).toMatchObject({
      SANDBOX_RUNTIME: "default",
      SANDBOX_RUNTIMES: ["default", "gvisor"],
    });
    expect(() => loadConfig({ SANDBOX_RUNTIME: "gvisor", SANDBOX_RUNTIMES: "default" })).toThrow(
      'SANDBOX_RUNTIMES="default": must offer SANDBOX_RUNTIME (gvisor), the runtime of requests that name none',
    );
    expect(() => loadConfig({ SANDBOX_RUNTIMES: "default,kata" })).toThrow(
      'SANDBOX_RUNTIMES="default,kata": "kata" is not a sandbox runtime',
    );
    expect(() => loadConfig({ SANDBOX_RUNTIME: "runsc" })).toThrow(/SANDBOX_RUNTIME="runsc"/);
  });

  it("parses numbers and booleans from strings", () => {
    const config = loadConfig({ PORT: "9000", MEMORY_LIMIT_MB: "1024", KUBERNETES_EXECUTOR_NET_ADMIN_LOCKDOWN: "false" });
    expect(config).toMatchObject({ PORT: 9000, MEMORY_LIMIT_MB: 1024, KUBERNETES_EXECUTOR_NET_ADMIN_LOCKDOWN: false });
  });

  it("reads the sandbox pods' seccomp profile as localhost/<file> or runtime/default", () => {
    expect(loadConfig({ KUBERNETES_EXECUTOR_SECCOMP_PROFILE: "localhost/code-interpreter.json" })).toMatchObject({
      KUBERNETES_EXECUTOR_SECCOMP_PROFILE: "localhost/code-interpreter.json",
    });
    expect(() => loadConfig({ KUBERNETES_EXECUTOR_SECCOMP_PROFILE: "unconfined" })).toThrow(/KUBERNETES_EXECUTOR_SECCOMP_PROFILE/);
  });

  it("keeps files in a directory by default, in S3 with FILE_STORE=s3 and its settings, and refuses s3 without a bucket", () => {
    expect(loadConfig({})).toMatchObject({ FILE_STORE: "dir", S3_FORCE_PATH_STYLE: false, S3_PREFIX: "" });
    expect(
      loadConfig({
        FILE_STORE: "s3",
        S3_BUCKET: "files",
        S3_ENDPOINT: "http://127.0.0.1:9000",
        S3_FORCE_PATH_STYLE: "true",
        S3_PREFIX: "ci/",
      }),
    ).toMatchObject({
      FILE_STORE: "s3",
      S3_BUCKET: "files",
      S3_ENDPOINT: "http://127.0.0.1:9000",
      S3_FORCE_PATH_STYLE: true,
      S3_PREFIX: "ci/",
    });
    expect(() => loadConfig({ FILE_STORE: "s3" })).toThrow("S3_BUCKET: required with FILE_STORE=s3");
    expect(() => loadConfig({ FILE_STORE: "s3", S3_BUCKET: "files", S3_ENDPOINT: "not a url" })).toThrow(/S3_ENDPOINT/);
    expect(() => loadConfig({ FILE_STORE: "nfs" })).toThrow(/FILE_STORE/);
  });

  it("names every bad variable in one error", () => {
    let error: unknown;
    try {
      loadConfig({ PORT: "eighty", EXECUTOR_BACKEND: "podman", MAX_OUTPUT_BYTES: "-1" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT="eighty"');
    expect(message).toContain('EXECUTOR_BACKEND="podman"');
    expect(message).toContain('MAX_OUTPUT_BYTES="-1"');
  });

  it("offers egress to any public destination by default, and none with EGRESS_ALLOW=none", () => {
    expect(egressOptions(loadConfig({}))).toEqual({});
    expect(egressOptions(loadConfig({ EGRESS_ALLOW: "none" }))).toBeUndefined();
    // Other settings beside EGRESS_ALLOW=none are still checked, though unused.
    expect(() => egressOptions(loadConfig({ EGRESS_ALLOW: "none", EGRESS_SECRETS: "{not json" }))).toThrow(
      /EGRESS_SECRETS: is not valid JSON/,
    );
    expect(() => loadConfig({ EGRESS_ALLOW: "none,pypi.org" })).toThrow(/EGRESS_ALLOW=.*none stands alone/);
  });

  it("reads the EGRESS_* settings, naming a bad variable", () => {
    const config = loadConfig({
      EGRESS_ALLOW: "pypi.org, *.pythonhosted.org,203.0.113.0/24",
      EGRESS_DENY: "203.0.113.7",
      EGRESS_ALLOW_PRIVATE: "true",
      EGRESS_HOSTS: "files.example.test=127.0.0.1:18443",
      EGRESS_MAX_CONNECTIONS: "8",
    });
    expect(egressOptions(config)).toMatchObject({
      allowOut: ["pypi.org", "*.pythonhosted.org", "203.0.113.0/24"],
      denyOut: ["203.0.113.7"],
      allowPrivate: true,
      hosts: { "files.example.test": { address: "127.0.0.1", port: 18443 } },
      maxConnections: 8,
    });
    expect(() => loadConfig({ EGRESS_ALLOW: "https://pypi.org" })).toThrow(/EGRESS_ALLOW: "https:\/\/pypi.org" is not a valid domain/);
    expect(() => loadConfig({ EGRESS_DENY: "*" })).toThrow(
      /EGRESS_DENY="\*": \* is not a rule here; for no egress at all set EGRESS_ALLOW=none/,
    );
    expect(() => loadConfig({ EGRESS_MAX_BYTES: "lots" })).toThrow(/EGRESS_MAX_BYTES/);
    expect(() => loadConfig({ EGRESS_HOSTS: "no-address" })).toThrow(/EGRESS_HOSTS/);
    // Bad secrets stop start-up in loadConfig, as every other variable does (one parser, the proxy's).
    const badSecrets = () => loadConfig({ EGRESS_SECRETS: JSON.stringify({ openai: { value: "sk-test-value" } }) });
    expect(badSecrets).toThrow(ConfigError);
    expect(badSecrets).toThrow(/EGRESS_SECRETS: secret "openai": needs hosts/);
    expect(badSecrets).not.toThrow(/sk-test-value/);
  });

  it("starts the egress proxy with the secrets' names (never their values) for the capabilities, making nothing until a sandbox asks", async () => {
    const egress = await openEgress(
      loadConfig({
        EGRESS_SECRETS: JSON.stringify({
          openai: { value: "sk-test-value", hosts: ["api.openai.com"], format: "Bearer {value}" },
          // value_env names a variable of the server's own environment.
          github: { value_env: "CI_TEST_OPENAI_KEY", hosts: ["api.github.com"], tenants: ["tenant-a"] },
        }),
        CI_TEST_OPENAI_KEY: "sk-from-env",
      }),
      () => {},
    );
    expect(egress?.offer).toEqual({ secrets: [{ name: "openai" }, { name: "github", tenants: ["tenant-a"] }] });
    expect(JSON.stringify(egress?.offer)).not.toContain("sk-");
    // Nothing made until a sandbox asks for `network` (no CA, no directory).
    expect(egress?.gateway.stateDirectory).toBeUndefined();
    expect(egress?.gateway.caCertificate).toBeUndefined();
    await egress?.gateway.close();
  });
});
