import { describeKubernetesContract } from "./support.js";

// The same suite as contract.test.ts, with the double running pods as bubblewrap sandboxes on this host.
await describeKubernetesContract("process");
