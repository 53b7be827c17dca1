import { describeReplicas } from "./replicas.js";
import { canRunPrivateDockerd, startPrivateDockerd } from "./support/private-dockerd.js";

// Two server processes on one Docker engine (a private dockerd, so everything on it is this file's)
// and one object store (the Swift node of scripts/test.d/50-swift.sh).
const IMAGE = "code-interpreter-executor:latest";

await describeReplicas("docker", async () => {
  const unavailable = canRunPrivateDockerd();
  if (unavailable) return `a private dockerd ${unavailable}`;
  const engine = await startPrivateDockerd(IMAGE);
  return {
    env: { EXECUTOR_BACKEND: "docker", DOCKER_HOST: engine.host, PYTHON_EXECUTOR_DOCKER_IMAGE: IMAGE },
    sandboxes: async () =>
      (await engine.docker.listContainers({ all: true, filters: { label: ["app=code-interpreter"] } })).map(
        (container) => `${container.Labels.component} ${container.Names[0]?.replace(/^\//, "")}`,
      ),
    close: () => engine.destroy(),
  };
});
