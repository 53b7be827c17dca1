/** Label on every Docker container the double starts during a test run, checked by the global teardown. */
export const TEST_RUN_LABEL = "code-interpreter.test-run";
