import { MAIN_FILE } from "./workspace-path.js";

/**
 * Runs `__main__.py` like `python3 __main__.py`, except that a bare last
 * expression is shown like the REPL shows it (`sys.displayhook`: repr, and
 * nothing for None). It takes the file to run and "1" or "0" (show the last
 * expression) as arguments, and names the code `__main__.py` either way. Code that does not parse is run as it is, so Python
 * reports its SyntaxError exactly as usual; tracebacks leave out this wrapper.
 */
const LAST_LINE_INTERACTIVE = `
import ast, sys, traceback, types
def _code():
    with open(sys.argv[1], "rb") as f:
        source = f.read()
    try:
        tree = ast.parse(source, ${JSON.stringify(MAIN_FILE)})
    except (SyntaxError, ValueError):
        return compile(source, ${JSON.stringify(MAIN_FILE)}, "exec")
    if sys.argv[2] == "1" and tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        show = ast.Attribute(ast.Call(ast.Name("__import__", ast.Load()), [ast.Constant("sys")], []), "displayhook", ast.Load())
        tree.body[-1] = ast.copy_location(ast.Expr(ast.Call(show, [last.value], [])), last)
        ast.fix_missing_locations(tree)
    return compile(tree, ${JSON.stringify(MAIN_FILE)}, "exec")
def _main():
    try:
        code = _code()
    except SyntaxError as error:
        traceback.print_exception(type(error), error, None)
        sys.exit(1)
    module = types.ModuleType("__main__")
    module.__file__ = ${JSON.stringify(MAIN_FILE)}
    sys.modules["__main__"] = module
    sys.argv = [${JSON.stringify(MAIN_FILE)}]
    try:
        exec(code, module.__dict__)
    except SystemExit:
        raise
    except BaseException as error:
        traceback.print_exception(type(error), error, error.__traceback__.tb_next)
        sys.exit(1)
_main()
`;

/**
 * The argv that runs Python code in `/workspace`. Without last-line-interactive
 * and with the code in `__main__.py` it is plain `python3 __main__.py`.
 */
export function pythonArgv(options: { python?: string; lastLineInteractive: boolean; file?: string }): string[] {
  const python = options.python ?? "python3";
  const file = options.file ?? MAIN_FILE;
  if (!options.lastLineInteractive && file === MAIN_FILE) return [python, MAIN_FILE];
  return [python, "-c", LAST_LINE_INTERACTIVE, file, options.lastLineInteractive ? "1" : "0"];
}
