import { describeDurable } from "./durable.js";
import { localBackend } from "./fixture.js";

describeDurable("local", localBackend);
