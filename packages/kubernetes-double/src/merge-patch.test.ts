import { describe, expect, it } from "vitest";
import { mergePatch } from "./merge-patch.js";

describe("merge patch", () => {
  it("merges maps key by key and removes keys set to null", () => {
    const pod = { metadata: { name: "p", annotations: { a: "1", b: "2" } }, spec: { x: 1 } };
    expect(mergePatch(pod, { metadata: { annotations: { a: "3", b: null, c: "4" } } })).toEqual({
      metadata: { name: "p", annotations: { a: "3", c: "4" } },
      spec: { x: 1 },
    });
  });

  it("replaces arrays whole", () => {
    expect(mergePatch({ list: [1, 2] }, { list: [3] })).toEqual({ list: [3] });
  });
});
