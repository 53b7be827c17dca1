/** One requirement of an equality-based label selector. */
type Requirement = { key: string; op: "=" | "!="; value: string } | { key: string; op: "exists" | "!exists" };

/**
 * Parses an equality-based selector: `a=b`, `a==b`, `a!=b`, `a` (exists) and
 * `!a` (does not exist), comma-separated. Set-based ones (`in`, `notin`) are
 * not used by the backend and are refused.
 */
export function parseLabelSelector(selector: string): Requirement[] {
  const requirements: Requirement[] = [];
  for (const raw of selector.split(",")) {
    const part = raw.trim();
    if (!part) continue;
    if (/\s(in|notin)\s*\(/.test(part)) throw new Error(`set-based selectors are not supported by the double: ${part}`);
    const match = /^([^!=]+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (match) {
      const [, key = "", op, value = ""] = match;
      requirements.push({ key: key.trim(), op: op === "!=" ? "!=" : "=", value: value.trim() });
    } else if (part.startsWith("!")) {
      requirements.push({ key: part.slice(1).trim(), op: "!exists" });
    } else {
      requirements.push({ key: part, op: "exists" });
    }
  }
  return requirements;
}

/** Whether labels satisfy every requirement of the selector. */
export function matchesSelector(labels: Record<string, string> | undefined, selector: string | undefined): boolean {
  if (!selector) return true;
  const have = labels ?? {};
  return parseLabelSelector(selector).every((requirement) => {
    const present = Object.hasOwn(have, requirement.key);
    switch (requirement.op) {
      case "exists":
        return present;
      case "!exists":
        return !present;
      case "=":
        return present && have[requirement.key] === requirement.value;
      default:
        return !present || have[requirement.key] !== requirement.value;
    }
  });
}
