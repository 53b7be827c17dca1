/** The few server calls the benchmark makes. */
export function api(url: string) {
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<Record<string, unknown>>;
  };
  const expectOk = (result: Record<string, unknown>) => {
    if (result.exit_code !== 0) throw new Error(`code failed: ${JSON.stringify(result)}`);
    return result;
  };
  return {
    execute: async (code: string, timeoutMs = 30_000) => expectOk(await post("/v1/execute", { code, timeout_ms: timeoutMs })),
    /** Milliseconds until the first output event of a streamed execution. */
    firstByte: async (code: string) => {
      const started = performance.now();
      const response = await fetch(`${url}/v1/execute/stream`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code, timeout_ms: 30_000 }),
      });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      let text = "";
      let first = Number.NaN;
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
        if (Number.isNaN(first) && text.includes("event: output")) first = performance.now() - started;
      }
      return first;
    },
    createSession: async () => (await post("/v1/sessions", { ttl_seconds: 600 })).session_id as string,
    deleteSession: async (id: string) => {
      const response = await fetch(`${url}/v1/sessions/${id}`, { method: "DELETE" });
      if (response.status !== 204) throw new Error(`delete session: ${response.status}`);
    },
    bash: async (id: string, cmd: string) => expectOk(await post(`/v1/sessions/${id}/bash`, { cmd })),
    python: async (id: string, code: string) => expectOk(await post(`/v1/sessions/${id}/python`, { code })),
  };
}
