import { describe, expect, it } from "vitest";
import { matchesSelector } from "./label-selector.js";

describe("label selectors", () => {
  const labels = { app: "code-interpreter", component: "session" };

  it("matches equality requirements, all of them", () => {
    expect(matchesSelector(labels, "app=code-interpreter,component=session")).toBe(true);
    expect(matchesSelector(labels, "app==code-interpreter,component=exec")).toBe(false);
  });

  it("matches inequality, existence and non-existence", () => {
    expect(matchesSelector(labels, "component!=exec")).toBe(true);
    expect(matchesSelector(labels, "app,!owner")).toBe(true);
    expect(matchesSelector(labels, "owner")).toBe(false);
    expect(matchesSelector(labels, "!app")).toBe(false);
  });

  it("matches everything with an empty selector", () => {
    expect(matchesSelector(undefined, "")).toBe(true);
    expect(matchesSelector(undefined, "app")).toBe(false);
  });
});
