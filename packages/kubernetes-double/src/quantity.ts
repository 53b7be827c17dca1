const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DECIMAL: Record<string, number> = { "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, m: 1e-3 };

/** A Kubernetes resource quantity (`512Mi`, `1`, `500m`, `1G`) as a number; undefined when absent or unreadable. */
export function parseQuantity(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") return value;
  const match = /^([0-9.]+)([A-Za-z]*)$/.exec(value.trim());
  if (!match) return undefined;
  const [, digits = "", suffix = ""] = match;
  const factor = BINARY[suffix] ?? DECIMAL[suffix];
  return factor === undefined ? undefined : Number(digits) * factor;
}
