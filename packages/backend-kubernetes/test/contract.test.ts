import { describeKubernetesContract } from "./support.js";

// The shared backend contract suite against the Kubernetes API double, its pods as containers on Docker.
await describeKubernetesContract("docker");
