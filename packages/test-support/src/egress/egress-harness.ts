import { readdir } from "node:fs/promises";
import type { EgressProxy } from "@code-interpreter/egress";
import { expect, it, type TestContext } from "vitest";
import type { EgressSuiteOptions } from "./egress-fixture.js";

/**
 * Declares a test of an egress suite: as `it`, or, for a test the backend
 * lists in `gaps`, as an expected failure titled with the reason (it fails the
 * run if the control starts to hold, so the entry is removed).
 */
export function egressTest(options: EgressSuiteOptions, used: Set<string>) {
  return (name: string, body: (context: TestContext) => Promise<void>): void => {
    used.add(name);
    const reason = options.gaps?.[name];
    if (reason === undefined) {
      it(name, body);
      return;
    }
    it(`${name} [known gap: ${reason}]`, async (context) => {
      let held = true;
      try {
        await body(context);
      } catch {
        held = false;
      }
      if (held) throw new Error(`"${name}" is listed as a gap of ${options.name} but the control held: remove it from gaps`);
    });
  };
}

/** No sandbox of the backend is left, and the gateway holds no sandbox's directory (each way out was closed). */
export async function expectNothingLeft(options: EgressSuiteOptions, gateway: EgressProxy | undefined): Promise<void> {
  expect(await options.listLeftovers()).toEqual([]);
  const directory = gateway?.stateDirectory;
  if (directory) expect(await readdir(directory)).toEqual([]);
}
