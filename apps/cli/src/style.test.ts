import { describe, expect, it } from "vitest";
import { palette, useColor } from "./style.js";

describe("useColor", () => {
  it("colours a terminal only", () => {
    expect(useColor({ isTTY: true }, {})).toBe(true);
    expect(useColor({ isTTY: false }, {})).toBe(false);
    expect(useColor({}, {})).toBe(false);
  });

  it("never colours with NO_COLOR set or TERM=dumb, and always with FORCE_COLOR", () => {
    expect(useColor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(useColor({ isTTY: true }, { NO_COLOR: "" })).toBe(true);
    expect(useColor({ isTTY: true }, { TERM: "dumb" })).toBe(false);
    expect(useColor({ isTTY: false }, { FORCE_COLOR: "1" })).toBe(true);
    expect(useColor({ isTTY: true }, { FORCE_COLOR: "0" })).toBe(true);
  });

  it("paints nothing when colour is off", () => {
    expect(palette({ isTTY: false }, {}).red("x")).toBe("x");
    expect(palette({ isTTY: true }, {}).red("x")).toBe("\u001b[31mx\u001b[39m");
  });
});
