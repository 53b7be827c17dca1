import { expect, it } from "vitest";
import { describeInChromium } from "./support/browser.js";

describeInChromium("/docs/results", ({ server, openPage, screenshot }) => {
  it("renders a DataFrame as a table, a plot and an SVG as images, JSON, and the exception", { timeout: 120_000 }, async () => {
    const { page, offSite, errors, consoleErrors } = await openPage({ width: 1100, height: 1800 });
    await page.goto(`${server().url}/docs/results`);
    await page.locator("body[data-done=true]").waitFor({ timeout: 90_000 });

    // The DataFrame's HTML, rendered in its frame as a real table.
    const frame = page.frameLocator("iframe.rich-html").first();
    await expect(frame.locator("table.dataframe td").first().textContent()).resolves.toBe("Oslo");
    expect(await frame.locator("table.dataframe tbody tr").count()).toBe(3);

    // The figure decoded by the browser at figsize * dpi, and the SVG at its own size.
    const sizes = await page.locator("img.rich-image").evaluateAll((images) =>
      (images as unknown as { dataset: { mime?: string }; naturalWidth: number; naturalHeight: number }[]).map((image) => ({
        mime: image.dataset.mime,
        width: image.naturalWidth,
        height: image.naturalHeight,
      })),
    );
    expect(sizes).toEqual([
      { mime: "image/png", width: 400, height: 250 },
      { mime: "image/svg+xml", width: 120, height: 20 },
    ]);
    expect(JSON.parse((await page.locator("pre.rich-json").textContent()) ?? "")).toEqual({ cities: 3 });
    expect(await page.locator("#stdout").textContent()).toBe("largest: Lima\n");
    const traceback = await page.locator("pre.rich-error").textContent();
    expect(traceback).toContain("ValueError");
    expect(traceback).toContain('File "__main__.py", line 14');

    await screenshot(page, "rich-results.png");
    expect(offSite).toEqual([]);
    expect([...errors, ...consoleErrors]).toEqual([]);
  });
});
