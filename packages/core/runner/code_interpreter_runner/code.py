"""Running the user's Python code as `python3 __main__.py` would, named
__main__.py, with a bare last expression shown like the REPL shows it
(last-line-interactive), its rich results collected, and its traceback free
of the runner's frames."""
import os
import sys

from .results import RICH, pipe_sender


# The pid that made its stdio fresh (a parked child does it before the request comes; its forks have their own).
FRESH_STDIO = []


def fresh_stdio():
    """sys.stdin/stdout/stderr on fds 0-2 as `python3 -u` makes them:
    unbuffered, so output streams as it happens."""
    import io

    FRESH_STDIO[:] = [os.getpid()]
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
    )


def compile_code(source, show_last, name="__main__.py"):
    """Compiles code as `name`; with show_last a bare last expression goes to
    sys.displayhook like in the REPL. Raises SyntaxError as Python reports it."""
    import ast

    try:
        tree = ast.parse(source, name)
    except (SyntaxError, ValueError):
        tree = None
    if tree is None:
        # Outside the except clause: the error Python reports carries no context with our frames.
        return compile(source, name, "exec")
    if show_last and tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        show = ast.Attribute(ast.Call(ast.Name("__import__", ast.Load()), [ast.Constant("sys")], []), "displayhook", ast.Load())
        tree.body[-1] = ast.copy_location(ast.Expr(ast.Call(show, [last.value], [])), last)
        ast.fix_missing_locations(tree)
    return compile(tree, name, "exec")


def main_module():
    """A fresh __main__ for the code (the runner's own names stay out of its sight)."""
    import types

    module = types.ModuleType("__main__")
    module.__file__ = "__main__.py"
    sys.modules["__main__"] = module
    sys.argv = ["__main__.py"]
    return module


def execute(code, module):
    """Runs compiled code in the module; returns its exit status. Tracebacks
    leave this function out."""
    try:
        exec(code, module.__dict__)
    except SystemExit as error:
        return exit_status(error.code)
    except BaseException as error:
        report_error(error, error.__traceback__.tb_next)
        return 1
    return 0


def report_error(error, tb):
    """Prints the traceback as Python would and hands {name, value, traceback} to the rich results."""
    import traceback

    text = "".join(traceback.format_exception(type(error), error, tb))
    sys.stderr.write(text)
    RICH.error(error, text)


def run_main(path, show_last, fresh=False, results_fd=None):
    """Runs the file like `python3 __main__.py` would, named __main__.py.
    Returns the exit code. Rich results go to `results_fd` when given;
    `fresh` is for a fork of the runner: new stdio, and the interpreter's exit done by hand."""
    if results_fd is not None:
        RICH.start(pipe_sender(results_fd))
    if fresh:
        if FRESH_STDIO != [os.getpid()]:
            fresh_stdio()
        sys.path.insert(0, os.getcwd())
        sys.dont_write_bytecode = True
    with open(path, "rb") as handle:
        source = handle.read()
    try:
        code = compile_code(source, show_last)
    except SyntaxError as error:
        report_error(error, None)
        return 1
    status = execute(code, main_module())
    RICH.flush_figures()
    return finish(status) if fresh else status


def exit_status(code):
    """The exit status SystemExit(code) gives, as the interpreter computes it (a message goes to stderr)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def finish(status):
    """What the interpreter does on the way out, for code run in a fork."""
    try:
        import threading

        threading._shutdown()
        import atexit

        atexit._run_exitfuncs()
    except SystemExit as error:
        status = exit_status(error.code)
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    return status
