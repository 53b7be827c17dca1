import { localBackend, runningSandboxes } from "./fixture.js";
import { describeSessionFaults } from "./support/session-faults.js";

describeSessionFaults("local", localBackend, runningSandboxes);
