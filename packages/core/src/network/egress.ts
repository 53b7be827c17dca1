// The seam between the sandbox engine and the egress proxy (issue 22). The
// proxy runs outside every sandbox; a sandbox that asked for `network` is
// given only a way to reach it (a Unix socket of its own, bound in, on local
// and docker; a TCP address and a token on kubernetes), never a route.

/** A request's `network` field: what the code may reach, within the operator's bounds. */
export interface NetworkPolicy {
  /** Domains (exact, or `*.` wildcards) and IP/CIDR entries. */
  allow_out: readonly string[];
  /** IP/CIDR entries; they win over `allow_out`. */
  deny_out: readonly string[];
}

/** One destination the code tried, as the answer's `network` lists it. */
export interface NetworkAttempt {
  host: string;
  port: number;
  allowed: boolean;
  /** Why it was refused (or what was done to it), in words a person can act on. */
  reason?: string;
}

/** Where, inside a sandbox, its way out is bound (local and docker). */
export const EGRESS_MOUNT_PATH = "/run/code-interpreter/egress";
/** The proxy's socket inside EGRESS_MOUNT_PATH. */
export const EGRESS_SOCKET_NAME = "proxy.sock";
/** The CA bundle (the system's CAs and the proxy's own) inside EGRESS_MOUNT_PATH. */
export const EGRESS_CA_BUNDLE_NAME = "ca-bundle.pem";
/** The loopback port, inside the sandbox, its proxy settings point at (the in-sandbox forwarder listens there). */
export const EGRESS_SANDBOX_PORT = 3128;

/** What the engine asks of the gateway when a sandbox with `network` is made. */
export interface EgressRequest {
  /** The sandbox's name (`code-exec-…`) or session id (`code-session-…`). */
  sandboxName: string;
  tenant?: string;
  policy: NetworkPolicy;
  /** Names of secrets the operator configured; the proxy adds them as headers for their hosts. */
  secrets: readonly string[];
}

/** Where a sandbox that cannot be given a socket (kubernetes) reaches the proxy: a TCP address, and the token its connections must present first. */
export interface EgressTcpEndpoint {
  host: string;
  port: number;
  /** Random (256 bits), this attachment's alone: a connection that presents it is handled as this sandbox's. */
  token: string;
}

/** One sandbox's way out, open until `close`. */
export interface EgressAttachment {
  /**
   * Host directory to bind read-only at EGRESS_MOUNT_PATH (local, docker): it
   * holds EGRESS_SOCKET_NAME and EGRESS_CA_BUNDLE_NAME, and nothing else.
   */
  hostDirectory?: string;
  /** The proxy's TCP address and this attachment's token, when the gateway listens on TCP (kubernetes). */
  tcp?: EgressTcpEndpoint;
  /** The proxy's CA certificate, after the operator's upstream CAs (PEM; not the system bundle), for sandboxes that write their own bundle (kubernetes). */
  caCertificate?: string;
  /** Environment for the code: HTTP(S)_PROXY, NO_PROXY, the CA bundle variables, pip's and npm's settings. */
  env: Record<string, string>;
  /** What the code tried since the last call (each attempt is handed out once). */
  drainAttempts(): NetworkAttempt[];
  /** Replaces the policy; connections the new one forbids are closed. Throws InvalidRequestError outside the operator's bounds. */
  update(policy: NetworkPolicy): Promise<void>;
  /** Stops listening and closes its connections; idempotent. */
  close(): Promise<void>;
}

/** The egress proxy as the engine sees it. */
export interface EgressGateway {
  /** Where sandboxes reach its TCP listener (the advertised address), when it has one; undefined: sockets only. */
  readonly tcp?: { host: string; port: number };
  /**
   * Opens a sandbox's way out. Throws InvalidRequestError (422) naming the
   * entry when the policy or a secret is outside what the operator allows.
   */
  open(request: EgressRequest): Promise<EgressAttachment>;
  /** Closes every attachment and the listeners. */
  close(): Promise<void>;
}
