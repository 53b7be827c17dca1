import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DirectoryRecordStore } from "@code-interpreter/files";
import { afterEach, describe, expect, it } from "vitest";
import type { ExecutionEvent } from "./execution-records.js";
import { LiveExecution } from "./live-execution.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function records() {
  const dir = await mkdtemp(join(tmpdir(), "ci-live-execution-"));
  dirs.push(dir);
  await mkdir(join(dir, "tmp"));
  return new DirectoryRecordStore(dir).open();
}

async function collect(events: AsyncIterable<ExecutionEvent>) {
  const all: ExecutionEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

describe("LiveExecution", () => {
  it("numbers events in the order emitted, even when an event's data is still being made", async () => {
    const execution = new LiveExecution("exec-x", undefined, undefined);
    const events = collect(execution.events(0));
    void execution.emit("output", new Promise((resolve) => setTimeout(() => resolve("slow"), 20)));
    void execution.emit("output", "fast");
    await execution.emit("result", { done: true });
    execution.end();
    expect((await events).map((event) => [event.id, event.data])).toEqual([
      [1, "slow"],
      [2, "fast"],
      [3, { done: true }],
    ]);
  });

  it("gives a follower that joins midway every event exactly once: written batches, then memory, then live", async () => {
    const store = await records();
    const execution = new LiveExecution("exec-y", undefined, { records: store, ttlSeconds: () => 60 });
    for (let index = 0; index < 3; index++) await execution.emit("output", index);
    await execution.flush();
    await execution.emit("output", 3);
    // A write under way while the follower joins: its events are in memory, not yet in a batch the follower reads.
    const writing = execution.flush();
    await execution.emit("output", 4);
    const follower = collect(execution.events(0));
    const resumed = collect(execution.events(2));
    await writing;
    await execution.emit("output", 5);
    await execution.emit("result", "end");
    await execution.flush();
    execution.end();
    expect((await follower).map((event) => event.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect((await resumed).map((event) => event.id)).toEqual([3, 4, 5, 6, 7]);
    expect(await store.list("executions/exec-y/events/")).toHaveLength(3);
  });

  it("stops following when the follower's signal aborts", async () => {
    const execution = new LiveExecution("exec-z", undefined, undefined);
    const controller = new AbortController();
    const events = collect(execution.events(0, controller.signal));
    await execution.emit("output", "a");
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    expect((await events).map((event) => event.data)).toEqual(["a"]);
  });
});
