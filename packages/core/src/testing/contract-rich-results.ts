import { expect, it } from "vitest";
import type { Backend, ExecuteOptions, ExecutionResult } from "../backend.js";
import type { OutputChunk, RichResult } from "../output.js";
import { describeAlways, type SectionDescribe } from "./suite-sections.js";

type Run = (code: string, extra?: Partial<ExecuteOptions>) => Promise<ExecutionResult>;

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from a PNG's IHDR chunk: the image is real and of this size. */
export function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
  expect(png.subarray(12, 16).toString("latin1")).toBe("IHDR");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

const plain = (results: RichResult[] | undefined) => (results ?? []).map((result) => result.data["text/plain"]);

/**
 * Rich results on every backend: MIME bundles like a notebook's outputs,
 * structured errors, execution counts, and the other languages.
 */
export function describeRichResults(run: Run, getBackend: () => Backend, section: SectionDescribe = describeAlways): void {
  const interactive = (code: string, extra: Partial<ExecuteOptions> = {}) => run(code, { lastLineInteractive: true, ...extra });

  section("rich results", () => {
    it("gives a DataFrame as the main result with HTML and plain text, and keeps stdout as it was", async () => {
      const result = await interactive(
        'import pandas as pd\ndf = pd.DataFrame({"city": ["Oslo", "Lima"], "people": [709000, 10000000]})\ndf',
      );
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain("Oslo");
      expect(result.results).toHaveLength(1);
      const [main] = result.results ?? [];
      expect(main?.isMainResult).toBe(true);
      expect(main?.data["text/html"]).toMatch(/<table[^>]*class="dataframe"/);
      expect(main?.data["text/html"]).toContain("<td>Lima</td>");
      expect(main?.data["text/plain"]).toContain("people");
      expect(result.error).toBeNull();
    });

    it("gives an open matplotlib figure as a PNG of the figure's size (figsize times dpi)", async () => {
      const result = await run(
        "import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 3), dpi=50)\nplt.plot([1, 3, 2])\nplt.title('rising')",
      );
      expect(result.exitCode).toBe(0);
      const figures = (result.results ?? []).filter((item) => item.data["image/png"] !== undefined);
      expect(figures).toHaveLength(1);
      expect(pngSize(Buffer.from(String(figures[0]?.data["image/png"]), "base64"))).toEqual({ width: 200, height: 150 });
      expect(figures[0]?.isMainResult).toBe(false);
      expect(figures[0]?.chart).toMatchObject({ type: "line", title: "rising", series: [{ x: [0, 1, 2], y: [1, 3, 2] }] });
    });

    it("shows what display() is given, in order, next to the main result", async () => {
      const result = await interactive('display(1)\nprint("between")\ndisplay("two", {"three": 3})\n4');
      expect(plain(result.results)).toEqual(["1", "'two'", "{'three': 3}", "4"]);
      expect(result.results?.map((item) => item.isMainResult)).toEqual([false, false, false, true]);
      expect(result.stdout).toBe("between\n4\n");
    });

    it("takes IPython's display objects: SVG, JSON, HTML and Markdown", async () => {
      const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10" fill="teal"/></svg>';
      const result = await run(
        `from IPython.display import HTML, JSON, SVG, Markdown, display\ndisplay(SVG(${JSON.stringify(svg)}))\ndisplay(JSON({"a": [1, 2]}))\ndisplay(HTML("<b>bold</b>"), Markdown("# title"))`,
      );
      expect(result.exitCode).toBe(0);
      const [image, json, html, markdown] = result.results ?? [];
      expect(image?.data["image/svg+xml"]).toContain('<rect width="20"');
      expect(json?.data["application/json"]).toEqual({ a: [1, 2] });
      expect(html?.data["text/html"]).toBe("<b>bold</b>");
      expect(markdown?.data["text/markdown"]).toBe("# title");
    });

    it("reports a raised exception's name, value and a traceback of the user's code only", async () => {
      const result = await run("def f():\n    raise ValueError('boom')\nf()");
      expect(result.exitCode).toBe(1);
      expect(result.error).toMatchObject({ name: "ValueError", value: "boom" });
      expect(result.error?.traceback).toContain('File "__main__.py", line 3');
      expect(result.error?.traceback).toContain("ValueError: boom");
      expect(result.error?.traceback).not.toContain("<string>");
      expect(result.stderr).toBe(result.error?.traceback);
    });

    it("reports a syntax error without the runner's frames", async () => {
      const result = await interactive("def broken(:\n  pass");
      expect(result.error?.name).toBe("SyntaxError");
      for (const text of [result.stderr, result.error?.traceback ?? ""]) {
        expect(text).toContain('File "__main__.py", line 1');
        expect(text).not.toContain("<string>");
        expect(text).not.toContain("compile_code");
        expect(text).not.toContain("During handling");
      }
    });

    it("streams each display as it is shown, before the execution ends", async () => {
      const seen: string[] = [];
      // print() may arrive as "out" then "\n": one entry per run of output.
      const output = (stream: OutputChunk["stream"]) => (data: string) => {
        const last = seen.length - 1;
        if (seen[last]?.startsWith(`${stream}:`)) seen[last] += data;
        else seen.push(`${stream}:${data}`);
      };
      const result = await run("import time\ndisplay('first')\nprint('out', flush=True)\ntime.sleep(0.2)\ndisplay('second')", {
        onStdout: output("stdout"),
        onStderr: output("stderr"),
        onResult: (result) => seen.push(`display:${result.data["text/plain"]}`),
      });
      expect(result.exitCode).toBe(0);
      expect(seen).toEqual(["display:'first'", "stdout:out\n", "display:'second'"]);
    });

    it("runs a JavaScript one-shot with Node.js", async () => {
      const result = await run("const n = [1, 2, 3].reduce((a, b) => a + b, 0);\nconsole.log('sum ' + n);\nconsole.error('to stderr');", {
        language: "javascript",
      });
      expect(result).toMatchObject({ stdout: "sum 6\n", stderr: "to stderr\n", exitCode: 0, results: [], error: null });
      const failed = await run("throw new Error('js boom')", { language: "javascript" });
      expect(failed.exitCode).toBe(1);
      expect(failed.stderr).toContain("js boom");
    });

    it("runs a bash one-shot and returns the files it wrote", async () => {
      const result = await run("echo $((6 * 7)); echo oops >&2; printf made > out.txt; exit 3", { language: "bash" });
      expect(result).toMatchObject({ stdout: "42\n", stderr: "oops\n", exitCode: 3, results: [], error: null });
      expect(result.files.map((file) => [file.path, file.content.toString()])).toEqual([["out.txt", "made"]]);
    });
  });

  section("rich results in a session", () => {
    const session = (name: string, body: (sessionId: string) => Promise<void>) =>
      it(name, async (context) => {
        const backend = getBackend();
        if (!backend.capabilities.statefulPython) context.skip();
        const created = await backend.createSession({ ttlSeconds: 300, files: [] });
        try {
          await body(created.id);
        } finally {
          await backend.deleteSession(created.id);
        }
      });
    const python = (sessionId: string, code: string) =>
      getBackend().runInSession({ sessionId, language: "python", code, timeoutMs: 20_000 });

    session("counts executions, one more each call, whatever the call did", async (id) => {
      const counts: (number | undefined)[] = [];
      for (const code of ["x = 1", "1 / 0", "x + 1", "def broken(:"]) counts.push((await python(id, code)).executionCount);
      expect(counts[0]).toBeGreaterThanOrEqual(1);
      expect(counts).toEqual(counts.map((_, index) => (counts[0] ?? 0) + index));
    });

    session("gives figures as image/png results and still as files, and errors as error", async (id) => {
      const result = await python(
        id,
        "import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 1), dpi=100)\nplt.bar(['a', 'b'], [3, 4])\nplt.show()\nraise KeyError('k')",
      );
      const figures = (result.results ?? []).filter((item) => item.data["image/png"] !== undefined);
      expect(figures).toHaveLength(1);
      expect(pngSize(Buffer.from(String(figures[0]?.data["image/png"]), "base64"))).toEqual({ width: 200, height: 100 });
      expect(figures[0]?.chart).toMatchObject({ type: "bar", series: [{ y: [3, 4] }] });
      expect(result.files).toHaveLength(1);
      expect(pngSize(result.files?.[0]?.content ?? Buffer.alloc(0))).toEqual({ width: 200, height: 100 });
      expect(result.error).toMatchObject({ name: "KeyError", value: "'k'" });
    });

    session("runs JavaScript in the session's workspace", async (id) => {
      await python(id, "open('shared.txt', 'w').write('from python')");
      const result = await getBackend().runInSession({
        sessionId: id,
        language: "javascript",
        code: "console.log(require('fs').readFileSync('shared.txt', 'utf8'))",
        timeoutMs: 20_000,
      });
      expect(result).toMatchObject({ stdout: "from python\n", exitCode: 0 });
    });
  });
}
