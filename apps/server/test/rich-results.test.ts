import { pngSize } from "@code-interpreter/core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, type LiveServer, startLiveServer } from "./fixture.js";

let server: LiveServer;
beforeAll(async () => {
  // A small threshold, so a figure's PNG goes to the file store.
  server = await startLiveServer({ RICH_RESULT_INLINE_MAX_BYTES: "1000" });
});
afterAll(() => server?.stop());

const post = (path: string, body: unknown) =>
  fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("rich results over HTTP", { timeout: 120_000 }, () => {
  it("stores a PNG over RICH_RESULT_INLINE_MAX_BYTES and answers {file_id}; small data stays inline", async () => {
    const code = "import matplotlib.pyplot as plt\nplt.figure(figsize=(3, 2), dpi=100)\nplt.plot([1, 2])\ndisplay({'small': True})";
    const answer = await json(await post("/v1/execute", { code, timeout_ms: 30_000 }));
    expect(Object.keys(answer)).toEqual(["stdout", "stderr", "exit_code", "timed_out", "duration_ms", "files", "results", "error"]);
    const [small, figure] = answer.results;
    expect(small.data).toEqual({ "text/plain": "{'small': True}" });
    expect(figure.data["image/png"]).toEqual({ file_id: expect.any(String) });
    const png = Buffer.from(await (await fetch(`${server.url}/v1/files/${figure.data["image/png"].file_id}`)).arrayBuffer());
    expect(pngSize(png)).toEqual({ width: 300, height: 200 });
  });

  it("streams display events before the result, and the result lists them too", async () => {
    const response = await post("/v1/execute/stream", { code: "display(1)\nprint('x')\n2", timeout_ms: 30_000 });
    const events = [...(await response.text()).matchAll(/event: (\w+)\ndata: (.*)\n/g)].map(([, name, data]) => [
      name,
      JSON.parse(data ?? ""),
    ]);
    expect(events.map(([name]) => name).filter((name) => name !== "output")).toEqual(["display", "display", "result"]);
    expect(events.filter(([name]) => name === "display").map(([, data]) => data)).toEqual([
      { is_main_result: false, data: { "text/plain": "1" } },
      { is_main_result: true, data: { "text/plain": "2" } },
    ]);
    expect(events.at(-1)?.[1].results).toHaveLength(2);
  });

  it("counts a session's cells and refuses an unknown language with 422", async () => {
    const { session_id: id } = await json(await post("/v1/sessions", {}));
    try {
      const first = await json(await post(`/v1/sessions/${id}/python`, { code: "a = 1" }));
      const second = await json(await post(`/v1/sessions/${id}/python`, { code: "a + 1" }));
      expect([first.execution_count, second.execution_count]).toEqual([1, 2]);
      expect(second.results).toEqual([{ is_main_result: true, data: { "text/plain": "2" } }]);
      const refused = await post(`/v1/sessions/${id}/python`, { code: "puts 1", language: "ruby" });
      expect(refused.status).toBe(422);
      expect((await json(refused)).detail).toBe("language must be one of: python, bash, javascript");
    } finally {
      await fetch(`${server.url}/v1/sessions/${id}`, { method: "DELETE" });
    }
  });
});
