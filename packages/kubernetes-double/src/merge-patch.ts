/**
 * RFC 7386 JSON merge patch: objects merge key by key, `null` removes a key,
 * anything else replaces. The double also applies strategic-merge patches this
 * way, which is exact for the maps (labels, annotations) the backend patches.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
