import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_EXECUTOR_IMAGE, SANDBOX_RUNTIMES } from "@code-interpreter/core/sandbox";
import { type EgressOptions, EgressSettingsError, egressOptionsFromEnv } from "@code-interpreter/egress";
import { z } from "zod";

const integer = (min: number, fallback: number) => z.coerce.number().int().min(min).default(fallback);
/** A yes/no variable: `true`/`1` or `false`/`0`. */
const flag = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0"])
    .default(fallback ? "true" : "false")
    .transform((value) => value === "true" || value === "1");

/** Raw text of an EGRESS_* variable: @code-interpreter/egress parses and checks it (loadConfig), one parser for the server and the proxy. */
const egressText = () => z.string().optional();

/**
 * The server's configuration, from environment variables (onyx names where
 * they exist). An empty variable counts as unset.
 */
export const ConfigSchema = z.object({
  EXECUTOR_BACKEND: z.enum(["auto", "local", "docker", "kubernetes"]).default("auto"),
  /** The sandbox runtime of requests that name none: `default` (the host's kernel) or `gvisor` (runsc). */
  SANDBOX_RUNTIME: z.enum(SANDBOX_RUNTIMES).default("default"),
  /** The runtimes requests may ask for (`runtime`), comma-separated; must hold SANDBOX_RUNTIME. Unset: SANDBOX_RUNTIME alone. */
  SANDBOX_RUNTIMES: z
    .string()
    .transform((value) => [
      ...new Set(
        value
          .split(",")
          .map((name) => name.trim())
          .filter(Boolean),
      ),
    ])
    .pipe(
      z
        .array(
          z.enum(SANDBOX_RUNTIMES, {
            error: (issue) => `${JSON.stringify(issue.input)} is not a sandbox runtime (${SANDBOX_RUNTIMES.join(", ")})`,
          }),
        )
        .min(1, `name at least one of ${SANDBOX_RUNTIMES.join(", ")}`),
    )
    .optional(),
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  MAX_EXEC_TIMEOUT_MS: integer(1, 60_000),
  /** Largest `timeout_ms` of a background execution (`background: true`), which no client waits on; at least MAX_EXEC_TIMEOUT_MS. */
  MAX_BACKGROUND_TIMEOUT_MS: integer(1, 3_600_000),
  /** How long a background (or resumable) execution's status, result and output stay readable after it ends. */
  EXECUTION_RESULT_TTL_SECONDS: integer(1, 86_400),
  /** How long the first answer to a request with an `Idempotency-Key` is kept for its repeats. */
  IDEMPOTENCY_TTL_SECONDS: integer(1, 86_400),
  MAX_OUTPUT_BYTES: integer(1, 1024 * 1024),
  CPU_TIME_LIMIT_SEC: integer(1, 30),
  MEMORY_LIMIT_MB: integer(16, 512),
  MAX_FILE_SIZE_MB: integer(1, 100),
  /** Largest JSON request body (code, stdin), in MB. */
  MAX_REQUEST_BODY_MB: integer(1, 10),
  /** Binary rich-result data (image/png, image/jpeg, application/pdf) above this many bytes goes to the file store as `{file_id}`; smaller stays inline base64. */
  RICH_RESULT_INLINE_MAX_BYTES: integer(0, 256 * 1024),
  /** How long a client may take to send a whole request (headers at most 60 s of it); past it, 408. */
  REQUEST_TIMEOUT_MS: integer(1000, 120_000),
  FILE_STORAGE_DIR: z.string().min(1).default(join(tmpdir(), "code-interpreter-files")),
  FILE_TTL_SEC: integer(1, 24 * 3600),
  /** Where files live: `dir` (FILE_STORAGE_DIR, one replica) or `s3` (an S3-compatible bucket several replicas share). */
  FILE_STORE: z.enum(["dir", "s3"]).default("dir"),
  /** The object store's URL (MinIO, Ceph RGW, Swift, GCS); unset for AWS S3. Credentials come from the standard AWS variables and files. */
  S3_ENDPOINT: z.url().optional(),
  /** Required with FILE_STORE=s3. */
  S3_BUCKET: z.string().optional(),
  /** Unset: the AWS SDK's own (AWS_REGION, ~/.aws/config). */
  S3_REGION: z.string().optional(),
  /** Path-style URLs (`endpoint/bucket/key`), which most stores but AWS need. */
  S3_FORCE_PATH_STYLE: flag(false),
  /** Prepended to every object key (e.g. `files/`), so several deployments can share a bucket. */
  S3_PREFIX: z.string().default(""),
  PYTHON_EXECUTOR_DOCKER_IMAGE: z.string().min(1).default(DEFAULT_EXECUTOR_IMAGE),
  PYTHON_EXECUTOR_DOCKER_NETWORK: z.string().min(1).default("none"),
  /** OCI runtime of sandbox containers, e.g. `runsc` (gVisor) or `kata-runtime`; the engine's default when unset. */
  PYTHON_EXECUTOR_DOCKER_RUNTIME: z.string().optional(),
  /** Docker one-shot executions in pooled containers, each in a fresh nested sandbox (backend-docker's README, Isolation). */
  DOCKER_ONESHOT_REUSE: flag(false),
  KUBERNETES_EXECUTOR_NAMESPACE: z.string().optional(),
  KUBERNETES_EXECUTOR_IMAGE: z.string().optional(),
  KUBERNETES_EXECUTOR_SERVICE_ACCOUNT: z.string().optional(),
  /** RuntimeClass of sandbox pods (e.g. gvisor, kata); the cluster's default when unset. */
  KUBERNETES_EXECUTOR_RUNTIME_CLASS: z.string().optional(),
  /** The server's own Deployment: executor and session pods get it as owner, so the cluster removes what a crashed server leaked. */
  KUBERNETES_EXECUTOR_OWNER_DEPLOYMENT: z.string().optional(),
  /** seccomp profile of sandbox pods: `localhost/<file>` (deploy/seccomp/code-interpreter.json installed on the nodes) or `runtime/default` (the default). */
  KUBERNETES_EXECUTOR_SECCOMP_PROFILE: z
    .string()
    .regex(/^(runtime\/default|localhost\/[^/].*)$/, "runtime/default or localhost/<file under the kubelet's seccomp root>")
    .optional(),
  KUBERNETES_EXECUTOR_NET_ADMIN_LOCKDOWN: flag(true),
  SESSION_MAX_LIFETIME_SECONDS: integer(1, 86_400),
  /** TTL of a session created without ttl_seconds. */
  SESSION_DEFAULT_TTL_SECONDS: integer(1, 3600),
  /** How long a paused session's snapshot is kept (issue 23); past it the session is gone. */
  SESSION_SNAPSHOT_TTL_SECONDS: integer(1, 7 * 86_400),
  /** Largest snapshot of a paused session, in MB: a larger one is refused (413) and the session keeps running. */
  MAX_SNAPSHOT_MB: integer(1, 512),
  /**
   * The key snapshots are signed with (HMAC-SHA256), at least 16 characters:
   * every replica that resumes a snapshot needs the key that made it. Unset:
   * a random key for this process (its snapshots do not survive a restart).
   */
  SNAPSHOT_KEY: z.string().min(16, "at least 16 characters").optional(),
  MAX_CONCURRENT_EXECUTIONS: integer(1, 16),
  /** Warm sandboxes kept ready (every backend); 0 with SANDBOX_POOL_MAX=0 turns the pool off. */
  SANDBOX_POOL_MIN: integer(0, 1),
  SANDBOX_POOL_MAX: integer(0, 4),
  SANDBOX_POOL_IDLE_TIMEOUT_SEC: integer(1, 60),
  /** Warm session sandboxes kept ready (every backend); SESSION_POOL_MAX=0 turns the session pool off. */
  SESSION_POOL_MIN: integer(0, 1),
  SESSION_POOL_MAX: integer(0, 16),
  /** Memory warm sandboxes of both pools may hold together, each counted at MEMORY_LIMIT_MB; unset: 16 × MEMORY_LIMIT_MB. */
  WARM_POOL_MEMORY_MB: z.coerce.number().int().min(0).optional(),
  /** Modules warm sandboxes import before a request arrives (comma-separated; "none" for none). */
  SANDBOX_PRELOAD: z
    .string()
    .default("numpy,pandas,matplotlib,matplotlib.pyplot")
    .transform((value) =>
      value === "none"
        ? []
        : value
            .split(",")
            .map((name) => name.trim())
            .filter(Boolean),
    ),
  /** How often expired sessions and files are reaped. */
  REAPER_INTERVAL_SEC: integer(1, 30),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  LOG_FORMAT: z.enum(["plain", "json"]).default("plain"),
  LOCAL_SANDBOX: z.enum(["auto", "require", "off"]).default("auto"),
  LOCAL_STATE_DIR: z.string().min(1).default(join(tmpdir(), "code-interpreter-local")),
  LOCAL_PYTHON: z.string().min(1).default("/usr/bin/python3"),
  /** The local sandboxes' root filesystem (`host`: this host's /usr); unset: the prepared one for this environment's hash. */
  LOCAL_ROOTFS: z.string().min(1).optional(),
  /** gVisor's runsc for the local backend's gvisor runtime; unset: `runsc` from PATH. */
  LOCAL_RUNSC_PATH: z.string().min(1).optional(),
  /** runsc's platform for the local backend's gvisor runtime (`kvm` hangs on some hosts). */
  LOCAL_RUNSC_PLATFORM: z.string().min(1).default("ptrace"),
  /** The local backend's one-shot sandboxes forked from one preloaded interpreter (bubblewrap only; see backend-local's README). */
  LOCAL_FORK_SERVER: flag(true),
  /** API keys, `tenant=key,…` (a key may be `sha256:<hex>`). With no keys at all the server is one tenant and stays on loopback. */
  API_KEYS: z.string().optional(),
  /** Keys that see every tenant's sessions and files, and /metrics; same form as API_KEYS. */
  ADMIN_API_KEYS: z.string().optional(),
  /** A JSON file `{"keys":[{"tenant","sha256","admin"?}]}` of hashed keys. */
  API_KEYS_FILE: z.string().optional(),
  /** Lets a server without API keys listen on a non-loopback HOST (anyone who reaches it can run code). */
  ALLOW_UNAUTHENTICATED: flag(false),
  /** Per tenant (when API keys are configured): executions at once, live sessions, stored file and snapshot bytes. */
  TENANT_MAX_CONCURRENT_EXECUTIONS: integer(1, 8),
  TENANT_MAX_SESSIONS: integer(1, 20),
  TENANT_MAX_STORED_MB: integer(1, 1024),
  /** Paused sessions (snapshots) a tenant may keep at once; a pause past it is refused (429) and the session keeps running. */
  TENANT_MAX_SNAPSHOTS: integer(1, 20),
  /**
   * Network egress (issue 22): what a request's `network` may allow at most,
   * comma-separated. Unset: any public name or address (`*`), so egress is
   * offered wherever the backend can give sandboxes a way out. `none`: no
   * egress proxy, and a request with `network` is refused (422).
   */
  EGRESS_ALLOW: egressText(),
  /** Always denied, whatever a request allows (added to loopback, link-local, the server's own addresses, private ranges). */
  EGRESS_DENY: egressText(),
  /** Lets requests reach private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) when they allow them. */
  EGRESS_ALLOW_PRIVATE: egressText(),
  /** The proxy's hosts file, `name=address[:port],…`: a name mapped here counts as the operator allowing that address. */
  EGRESS_HOSTS: egressText(),
  /** Secrets, inline JSON: `{"name": {"hosts": […], "header": "Authorization", "value": … | "value_env": "VARIABLE", "format"?: "Bearer {value}", "tenants"?: […]}}`. */
  EGRESS_SECRETS: egressText(),
  /** Extra CA certificates (a PEM file, or PEM text) the proxy trusts upstream and puts in the sandboxes' bundle. */
  EGRESS_UPSTREAM_CA: egressText(),
  /** Where each sandbox's egress directory (socket, CA bundle) is made; short, as Unix socket paths are. Unset: a new temporary directory. */
  EGRESS_STATE_DIR: egressText(),
  /** Open connections per sandbox through the proxy. Unset: the proxy's default (64). */
  EGRESS_MAX_CONNECTIONS: egressText(),
  /** Bytes per second per sandbox through the proxy (0: no limit). Unset: no limit. */
  EGRESS_BYTES_PER_SECOND: egressText(),
  /** Bytes per sandbox over its life through the proxy (0: no limit). Unset: the proxy's default (1 GiB). */
  EGRESS_MAX_BYTES: egressText(),
  /**
   * `address:port` the egress proxy also listens on for sandboxes that cannot be given a socket
   * (kubernetes pods; each connection presents its sandbox's token first). Unset: no TCP listener,
   * and the kubernetes backend offers no egress.
   */
  EGRESS_LISTEN: egressText(),
  /** `address[:port]` pods are told to reach that listener at (on a cluster, the server pod's IP from the downward API). Unset: EGRESS_LISTEN's. */
  EGRESS_ADVERTISE_ADDRESS: egressText(),
});
/** The configuration, with SANDBOX_RUNTIMES filled in (SANDBOX_RUNTIME alone when unset) and the EGRESS_* variables parsed. */
export type Config = Omit<z.infer<typeof ConfigSchema>, "SANDBOX_RUNTIMES"> & {
  SANDBOX_RUNTIMES: z.infer<typeof ConfigSchema>["SANDBOX_RUNTIME"][];
  /** The egress proxy's options from the EGRESS_* variables (`allowOut` empty: EGRESS_ALLOW=none). */
  egress: EgressOptions;
};

/** A configuration that cannot be used; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the configuration once; `env` is injectable for tests. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(
    Object.keys(ConfigSchema.shape)
      .map((key) => [key, env[key]] as const)
      .filter(([, value]) => value !== undefined && value !== ""),
  );
  const parsed = ConfigSchema.safeParse(present);
  // The EGRESS_* variables are parsed by the proxy's own parser; value_env secrets read the same `env`.
  let egress: EgressOptions = {};
  let egressProblems: string[] = [];
  try {
    egress = egressOptionsFromEnv(env);
  } catch (error) {
    if (!(error instanceof EgressSettingsError)) throw error;
    egressProblems = error.problems;
  }
  if (parsed.success && egressProblems.length > 0) throw new ConfigError(egressProblems);
  if (parsed.success && parsed.data.FILE_STORE === "s3" && !parsed.data.S3_BUCKET) {
    throw new ConfigError(["S3_BUCKET: required with FILE_STORE=s3 (the bucket files are kept in)"]);
  }
  if (parsed.success && parsed.data.MAX_BACKGROUND_TIMEOUT_MS < parsed.data.MAX_EXEC_TIMEOUT_MS) {
    throw new ConfigError([
      `MAX_BACKGROUND_TIMEOUT_MS=${parsed.data.MAX_BACKGROUND_TIMEOUT_MS}: must be at least MAX_EXEC_TIMEOUT_MS (${parsed.data.MAX_EXEC_TIMEOUT_MS})`,
    ]);
  }
  if (parsed.success) {
    const runtimes = parsed.data.SANDBOX_RUNTIMES ?? [parsed.data.SANDBOX_RUNTIME];
    if (!runtimes.includes(parsed.data.SANDBOX_RUNTIME)) {
      throw new ConfigError([
        `SANDBOX_RUNTIMES=${JSON.stringify(present.SANDBOX_RUNTIMES)}: must offer SANDBOX_RUNTIME (${parsed.data.SANDBOX_RUNTIME}), the runtime of requests that name none`,
      ]);
    }
    return { ...parsed.data, SANDBOX_RUNTIMES: runtimes, egress };
  }
  throw new ConfigError([
    ...parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      return `${key}=${JSON.stringify(present[key])}: ${issue.message}`;
    }),
    ...egressProblems,
  ]);
}
