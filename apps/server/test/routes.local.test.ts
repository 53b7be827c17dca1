import { localBackend, runningSandboxes } from "./fixture.js";
import { describeRoutes } from "./routes.js";

describeRoutes("local", localBackend, runningSandboxes);
