import { describe } from "vitest";

/**
 * Which top-level sections of a shared suite a test file runs: all of them
 * (the default), or a named subset with the reason the rest is left out,
 * shown in the report on each section skipped, so nothing is skipped silently.
 */
export interface SuiteSections {
  /** Titles of the sections to run, e.g. `["execute", "sessions"]`. */
  run: readonly string[];
  /** Why the others do not run here, and how to run them. */
  reason: string;
  /**
   * Within those sections, only these tests (by name), the rest skipped with
   * `reason`. Only the hostile suite, whose tests are declared through one
   * wrapper, takes it; the contract suite refuses it. @default every test
   */
  tests?: readonly string[];
}

/** `describe` for a section of a suite: skipped, titled with the reason, when `sections` leaves it out. */
export function describeSection(sections: SuiteSections | undefined, used: Set<string>) {
  return (title: string, body: () => void, options: { timeout?: number } = {}): void => {
    used.add(title);
    if (sections === undefined || sections.run.includes(title)) describe(title, options, body);
    else describe.skip(`${title} [${sections.reason}]`, options, body);
  };
}

/** A function that declares a section of a suite (see describeSection). */
export type SectionDescribe = (title: string, body: () => void, options?: { timeout?: number }) => void;

/** Plain `describe`, for a section that runs wherever its suite runs. */
export const describeAlways: SectionDescribe = (title, body, options = {}) => describe(title, options, body);

/** A section name that names no section is a typo that would run nothing: the suites refuse it. */
export function unknownSections(sections: SuiteSections | undefined, used: ReadonlySet<string>): string[] {
  return (sections?.run ?? []).filter((title) => !used.has(title));
}

/** Whether a test of a section that runs is left out by `sections.tests` (see SuiteSections.tests). */
export function testLeftOut(sections: SuiteSections | undefined, name: string): boolean {
  return sections?.tests !== undefined && !sections.tests.includes(name);
}

/**
 * The subset a gVisor test file runs: every section with `GVISOR_SUITE=full`
 * (the documented full run), else `subset`, named in the file, so CI stays in
 * its budget (gVisor's ptrace platform makes each sandbox seconds slower).
 */
export function gvisorSections(subset: readonly string[], tests?: readonly string[]): SuiteSections | undefined {
  if (process.env.GVISOR_SUITE === "full") return undefined;
  return { run: subset, reason: "not in CI's gVisor subset; GVISOR_SUITE=full runs it", ...(tests ? { tests } : {}) };
}
