/** A planned wrong answer: the next `times` requests matching verb and path get `status`. */
export interface FaultRule {
  /** HTTP method: GET, POST, PATCH, DELETE (exec and attach upgrades are GET). */
  verb: string;
  /** Matches the request path (without the query): a substring or a regular expression. */
  path: string | RegExp;
  /** 404, 409, 500, … answered with a matching `Status` body. */
  status: number;
  /** How many matching requests fail. @default 1 */
  times?: number;
}

/**
 * Fault injection: wrong answers from the API, images that cannot be pulled,
 * nodes that cannot take a pod. Tests set these on a running double.
 */
export class Faults {
  private readonly rules: (FaultRule & { left: number })[] = [];
  private readonly unpullable = new Set<string>();
  private unschedulableMessage: string | undefined;

  /** Makes the next N matching requests fail with the given status. */
  failNext(rule: FaultRule): void {
    this.rules.push({ ...rule, verb: rule.verb.toUpperCase(), left: rule.times ?? 1 });
  }

  /** Pods with this image stay Pending with `ErrImagePull`. */
  makeImageUnpullable(image: string): void {
    this.unpullable.add(image);
  }

  /** New pods stay Pending with `PodScheduled=False, reason Unschedulable` and this message. */
  makeUnschedulable(message = "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available"): void {
    this.unschedulableMessage = message;
  }

  /** Forgets every planned fault. */
  reset(): void {
    this.rules.length = 0;
    this.unpullable.clear();
    this.unschedulableMessage = undefined;
  }

  /** The status a request must fail with, consuming one use of the rule; undefined to serve it. */
  take(verb: string, path: string): number | undefined {
    const rule = this.rules.find(
      (candidate) =>
        candidate.left > 0 &&
        candidate.verb === verb &&
        (typeof candidate.path === "string" ? path.includes(candidate.path) : candidate.path.test(path)),
    );
    if (!rule) return undefined;
    rule.left -= 1;
    if (rule.left === 0) this.rules.splice(this.rules.indexOf(rule), 1);
    return rule.status;
  }

  /** Planned failures not yet used. */
  pending(): number {
    return this.rules.reduce((sum, rule) => sum + rule.left, 0);
  }

  isUnpullable(image: string): boolean {
    return this.unpullable.has(image);
  }

  get unschedulable(): string | undefined {
    return this.unschedulableMessage;
  }
}
