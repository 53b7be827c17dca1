import { existsSync, readFileSync } from "node:fs";
import { packageFile } from "../package-file.js";

/** A value a hostile program takes: written into it as the Python literal. */
export type HostileProgramValue = string | number | boolean | readonly HostileProgramValue[];

/** packages/core/testing/hostile, found from the package's root wherever this module was bundled. */
const PROGRAMS_DIR = packageFile("testing/hostile");

/** `name = value  # parameter`: a value the suite sets. */
const PARAMETER_LINE = /^(\w+) = .*# parameter\b.*$/gm;
/** `from other import …  # inlined`: the suite puts other.py's text there (the import keeps the linter informed). */
const INLINED_LINE = /^from (\w+) import [^#\n]*# inlined$/gm;

function pythonLiteral(value: HostileProgramValue): string {
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`a hostile program takes finite numbers, not ${value}`);
    return String(value);
  }
  if (typeof value === "string") return JSON.stringify(value); // a JSON string is a Python string literal of the same text
  return `[${value.map(pythonLiteral).join(", ")}]`;
}

function readProgram(name: string): string {
  if (!existsSync(PROGRAMS_DIR))
    throw new Error("the hostile programs (packages/core/testing/hostile) are missing from this install of @code-interpreter/core");
  return readFileSync(`${PROGRAMS_DIR}/${name}.py`, "utf8");
}

/**
 * The Python program `testing/hostile/<name>.py` as the hostile suite runs
 * it: its `# inlined` imports replaced by the files they name, and each
 * `# parameter` line set to the value given for it (every one must be given,
 * and nothing else).
 */
export function hostileProgram(name: string, parameters: Readonly<Record<string, HostileProgramValue>> = {}): string {
  const unused = new Set(Object.keys(parameters));
  const source = readProgram(name)
    .replace(INLINED_LINE, (_line, other: string) => readProgram(other).replace(/\n$/, ""))
    .replace(PARAMETER_LINE, (_line, key: string) => {
      const value = parameters[key];
      if (value === undefined) throw new Error(`the hostile program ${name}.py needs the parameter ${key}`);
      unused.delete(key);
      return `${key} = ${pythonLiteral(value)}`;
    });
  if (unused.size > 0) throw new Error(`the hostile program ${name}.py has no parameter ${[...unused].join(", ")}`);
  return source;
}
