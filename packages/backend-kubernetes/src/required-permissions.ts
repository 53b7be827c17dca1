/** One RBAC rule: API group, resources, verbs. */
export interface PermissionRule {
  apiGroup: string;
  resources: readonly string[];
  verbs: readonly string[];
}

/**
 * Every API call the backend makes, as RBAC rules for its namespace. The
 * Role in `deploy/` must grant exactly these (a test compares them):
 * pods are created, read, listed by label, patched (keepalive) and deleted;
 * exec (sessions) and attach (one-shot pods) are WebSocket upgrades, which
 * the API server authorizes as `create` (and `get` on older servers); the
 * server's own Deployment is read once, for owner references.
 * No `watch`: pods are polled, with a bound, until Running.
 */
export const REQUIRED_PERMISSIONS: readonly PermissionRule[] = [
  { apiGroup: "", resources: ["pods"], verbs: ["create", "delete", "get", "list", "patch"] },
  { apiGroup: "", resources: ["pods/attach", "pods/exec"], verbs: ["create", "get"] },
  { apiGroup: "apps", resources: ["deployments"], verbs: ["get"] },
];
