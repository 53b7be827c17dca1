export { type ApiStatus, exitStatus, failure } from "./api-status.js";
export { DOUBLE_APP_LABEL, DOUBLE_INSTANCE_LABEL } from "./docker-pods.js";
export { type FaultRule, Faults } from "./faults.js";
export { kubeConfigFor, kubeconfigYaml } from "./kubeconfig.js";
export { KubernetesDouble, type KubernetesDoubleOptions, type RecordedRequest } from "./kubernetes-double.js";
export { matchesSelector, parseLabelSelector } from "./label-selector.js";
export { mergePatch } from "./merge-patch.js";
export { parseQuantity } from "./quantity.js";
