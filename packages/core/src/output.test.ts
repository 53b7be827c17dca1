import { describe, expect, it } from "vitest";
import { OutputCollector, TRUNCATION_SUFFIX, truncateOutput } from "./output.js";

describe("output truncation", () => {
  it("leaves output within the limit alone", () => {
    expect(truncateOutput("hello", 5)).toBe("hello");
  });

  it("cuts at the byte limit and says so", () => {
    expect(truncateOutput("hello world", 5)).toBe(`hello${TRUNCATION_SUFFIX}`);
  });

  it("keeps multi-byte characters split across chunks intact", () => {
    const collector = new OutputCollector(100);
    const bytes = Buffer.from("héllo");
    collector.push(bytes.subarray(0, 2));
    collector.push(bytes.subarray(2));
    expect(collector.toString()).toBe("héllo");
  });
});
