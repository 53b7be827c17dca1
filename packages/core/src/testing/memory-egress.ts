import { InvalidRequestError } from "../errors.js";
import type { EgressAttachment, EgressGateway, EgressRequest, NetworkAttempt, NetworkPolicy } from "../network/egress.js";

/** The environment a MemoryEgressGateway's attachments give the code (what the real proxy's settings look like). */
export const MEMORY_EGRESS_ENV: Readonly<Record<string, string>> = Object.freeze({
  HTTPS_PROXY: "http://127.0.0.1:3128",
  SSL_CERT_FILE: "/run/code-interpreter/egress/ca-bundle.pem",
});

/** One way out of a MemoryEgressGateway: a test pushes what the code "tried" into `attempts`. */
export class MemoryEgressAttachment implements EgressAttachment {
  readonly hostDirectory: string;
  readonly env = { ...MEMORY_EGRESS_ENV };
  /** What the code tried since the last drain: push here to stand for the proxy seeing a connection. */
  readonly attempts: NetworkAttempt[] = [];
  /** Every policy `update` took. */
  readonly updates: NetworkPolicy[] = [];
  closes = 0;

  constructor(
    readonly request: EgressRequest,
    private readonly gateway: MemoryEgressGateway,
  ) {
    this.hostDirectory = `/egress/${request.sandboxName}`;
  }

  drainAttempts(): NetworkAttempt[] {
    return this.attempts.splice(0);
  }

  async update(policy: NetworkPolicy): Promise<void> {
    this.gateway.checkBounds(policy);
    this.updates.push(policy);
  }

  async close(): Promise<void> {
    this.closes++;
  }
}

/**
 * An in-memory EgressGateway for the engine's and the server's tests: the
 * real proxy is @code-interpreter/egress, which builds on core, so core and
 * the routes test their side of the seam against this one. It records what
 * it was asked, refuses (422) secrets outside `secrets` and allow_out entries
 * in `outside`, and counts each attachment's closes.
 */
export class MemoryEgressGateway implements EgressGateway {
  readonly attachments: MemoryEgressAttachment[] = [];
  closed = false;

  constructor(
    readonly settings: {
      /** Secrets the "operator" configured. @default ["openai"] */
      secrets?: readonly string[];
      /** allow_out entries outside the "operator's" bounds. @default ["outside.example"] */
      outside?: readonly string[];
    } = {},
  ) {}

  async open(request: EgressRequest): Promise<EgressAttachment> {
    for (const secret of request.secrets) {
      if (!(this.settings.secrets ?? ["openai"]).includes(secret)) {
        throw new InvalidRequestError({ message: `secrets: ${JSON.stringify(secret)} is not a secret this server has` });
      }
    }
    this.checkBounds(request.policy);
    const attachment = new MemoryEgressAttachment(request, this);
    this.attachments.push(attachment);
    return attachment;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Attachments not closed exactly once: a leak (0) or a double close (2). */
  unclosed(): MemoryEgressAttachment[] {
    return this.attachments.filter((attachment) => attachment.closes !== 1);
  }

  /** The attachment of a sandbox or session, by its name. */
  of(sandboxName: string): MemoryEgressAttachment | undefined {
    return this.attachments.find((attachment) => attachment.request.sandboxName === sandboxName);
  }

  checkBounds(policy: NetworkPolicy): void {
    const outside = policy.allow_out.find((entry) => (this.settings.outside ?? ["outside.example"]).includes(entry));
    if (outside)
      throw new InvalidRequestError({
        message: `allow_out entry ${JSON.stringify(outside)} is outside what this server allows (EGRESS_ALLOW)`,
      });
  }
}
