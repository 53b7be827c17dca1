import { expect, it } from "vitest";
import { describeInChromium } from "./support/browser.js";

describeInChromium("/docs", ({ server, openPage, screenshot }) => {
  it("lists every route and runs code with 'try it', loading nothing from elsewhere", { timeout: 120_000 }, async () => {
    const { page, offSite, errors } = await openPage({ width: 1280, height: 2400 });
    await page.goto(`${server().url}/docs`);
    await page.locator(".opblock").first().waitFor({ timeout: 30_000 });
    const document = (await (await fetch(`${server().url}/openapi.json`)).json()) as { paths: Record<string, object> };
    const documented = Object.entries(document.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const listed = await page
      .locator(".opblock-summary")
      .evaluateAll((blocks) =>
        blocks.map(
          (block) =>
            `${block.querySelector(".opblock-summary-method")?.textContent?.trim()} ${block.querySelector(".opblock-summary-path")?.getAttribute("data-path")}`,
        ),
      );
    expect(listed.sort()).toEqual(documented);

    const execute = page.locator("#operations-execute-execute");
    await execute.locator(".opblock-summary").click();
    // The page opens with "try it out" on; press it only if a Swagger UI default turned it off.
    const tryIt = execute.locator("button.try-out__btn", { hasText: "Try it out" });
    if (await tryIt.isVisible()) await tryIt.click();
    await execute.locator("textarea.body-param__text").fill(JSON.stringify({ code: "print(6 * 7)" }));
    await execute.locator("button.execute").click();
    const body = execute.locator(".live-responses-table .response-col_description pre.microlight").first();
    await body.waitFor({ timeout: 30_000 });
    const text = await body.textContent();
    expect(JSON.parse(text ?? "")).toMatchObject({ stdout: "42\n", exit_code: 0, timed_out: false });
    expect(await execute.locator(".live-responses-table tbody .response-col_status").first().textContent()).toContain("200");

    await screenshot(page, "docs.png", false);
    expect(offSite).toEqual([]);
    expect(errors).toEqual([]);
  });
});
