/**
 * Bundles the runner's Python package (runner/code_interpreter_runner/) into
 * the one source text the sandboxes receive (runner/runner.py): each module's
 * source as a string, installed as that module in dependency order, then the
 * package's `__main__` run with the command line. The output depends on the
 * package's files only, so it is reproducible byte for byte.
 *
 *   node scripts/bundle-runner.ts    (core's build runs it; so does `pnpm run bundle:runner`)
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The Python package's name, inside the sandbox too. */
export const RUNNER_PACKAGE = "code_interpreter_runner";

/** The package's folder and the bundle's path in this checkout. */
export const RUNNER_PACKAGE_DIR = fileURLToPath(new URL(`../runner/${RUNNER_PACKAGE}/`, import.meta.url));
export const RUNNER_BUNDLE_PATH = fileURLToPath(new URL("../runner/runner.py", import.meta.url));

const HEADER = `# GENERATED FILE, do not edit: packages/core/scripts/bundle-runner.ts makes it from the
# Python package packages/core/runner/${RUNNER_PACKAGE}/ (edit that instead).
# Regenerate with \`pnpm --filter @code-interpreter/core run bundle:runner\` (core's build runs it too);
# a test in core fails while this file is not what the package makes.
#
# The sandboxes receive this one source text (\`python3 -c\`, or over stdin on Kubernetes):
# it installs each module below from its source, dependencies first, and runs the
# package's __main__ with the command line.
import sys


def _install(name, source):
    module = type(sys)(name)
    package, _, leaf = name.rpartition(".")
    if not package:
        module.__path__ = []  # the package: its modules come from here, never from a disk
        package = name
    module.__package__ = package
    sys.modules[name] = module
    if package != name:
        setattr(sys.modules[package], leaf, module)
    path = name.replace(".", "/") + ("/__init__.py" if package == name else ".py")
    exec(compile(source, path, "exec"), module.__dict__)

`;

/** Modules of the package (file names without `.py`), `__init__` included. */
function moduleNames(directory: string): string[] {
  return readdirSync(directory)
    .filter((name) => name.endsWith(".py"))
    .map((name) => name.slice(0, -3))
    .sort();
}

/** The sibling modules a module imports at its top level (`from .name import …`, `from . import name`). */
function topLevelImports(source: string, modules: ReadonlySet<string>): string[] {
  const found = new Set<string>();
  for (const line of source.split("\n")) {
    const fromModule = /^from \.(\w+) import /.exec(line);
    if (fromModule?.[1]) found.add(fromModule[1]);
    const fromPackage = /^from \. import (.+)$/.exec(line);
    for (const name of fromPackage?.[1]?.split(",") ?? []) found.add(name.trim().split(/\s+/)[0] ?? "");
  }
  return [...found].filter((name) => modules.has(name));
}

/** Dependencies before dependents, ties in name order; `__init__` first and `__main__` last. Throws on a cycle. */
function installOrder(sources: ReadonlyMap<string, string>): string[] {
  const names = new Set(sources.keys());
  const waiting = new Map([...sources].map(([name, source]) => [name, new Set(topLevelImports(source, names))]));
  const order: string[] = [];
  if (waiting.has("__init__")) {
    order.push("__init__");
    waiting.delete("__init__");
  }
  for (const needs of waiting.values()) needs.delete("__init__");
  while (waiting.size > 0) {
    const ready = [...waiting].filter(([, needs]) => needs.size === 0).map(([name]) => name);
    if (ready.length === 0) throw new Error(`the runner's modules import each other in a cycle: ${[...waiting.keys()].join(", ")}`);
    const next = ready.filter((name) => name !== "__main__" || ready.length === 1).sort()[0] as string;
    order.push(next);
    waiting.delete(next);
    for (const needs of waiting.values()) needs.delete(next);
  }
  return order;
}

/** A Python raw triple-quoted literal of the source: it stays readable in the bundle and its diffs. */
function pythonLiteral(name: string, source: string): string {
  if (source.includes("'''") || source.includes("\r") || !source.endsWith("\n")) {
    throw new Error(`${name}.py cannot be bundled: it holds ''' or a carriage return, or does not end with a newline`);
  }
  return `r'''${source}'''`;
}

/** The bundle of the package in `directory`, as the sandboxes receive it. */
export function bundleRunner(directory: string = RUNNER_PACKAGE_DIR): string {
  const sources = new Map(moduleNames(directory).map((name) => [name, readFileSync(join(directory, `${name}.py`), "utf8")]));
  if (!sources.has("__init__") || !sources.has("__main__"))
    throw new Error(`${directory} is not the runner's package: it needs __init__.py and __main__.py`);
  const parts = [HEADER];
  for (const name of installOrder(sources)) {
    const qualified = name === "__init__" ? RUNNER_PACKAGE : `${RUNNER_PACKAGE}.${name}`;
    parts.push(`_install("${qualified}", ${pythonLiteral(name, sources.get(name) as string)})\n`);
  }
  parts.push(`sys.modules["${RUNNER_PACKAGE}.__main__"].main(sys.argv)\n`);
  return parts.join("");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(RUNNER_BUNDLE_PATH, bundleRunner());
}
