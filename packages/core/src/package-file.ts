import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/**
 * A data file this package ships beside its code (`runner/runner.py`,
 * `environment/environment.conf`), by its path in the package. Found from the
 * package's root, the nearest folder above this module with a package.json: the
 * same from `src/` under vitest and from any bundled entry in `dist/`, however
 * deep the entry sits.
 */
export function packageFile(path: string): string {
  root ??= packageRoot(dirname(fileURLToPath(import.meta.url)));
  return join(root, path);
}

function packageRoot(start: string): string {
  for (let directory = start; ; directory = dirname(directory)) {
    if (existsSync(join(directory, "package.json"))) return directory;
    if (dirname(directory) === directory)
      throw new Error(`no package.json above ${start}: @code-interpreter/core's data files cannot be found`);
  }
}
