import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LiveServer, startLiveServer } from "./fixture.js";

/** Debian's chromium; CHROMIUM_PATH overrides it. */
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
/** Where the screenshot is kept for people to look at (gitignored). */
const ARTIFACTS = join(import.meta.dirname, "..", "test-results");

const available = existsSync(CHROMIUM);
if (!available && process.env.CI === "true")
  throw new Error(`The /docs browser test needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
if (!available) console.warn(`Skipping the /docs browser test: no Chromium at ${CHROMIUM}`);

describe.skipIf(!available)("/docs in a headless Chromium", () => {
  let server: LiveServer;
  let browser: Browser;
  const offSite: string[] = [];

  beforeAll(async () => {
    server = await startLiveServer();
    // --no-sandbox: Chromium's own sandbox refuses to run as root, which CI is.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("lists every route and runs code with 'try it', loading nothing from elsewhere", { timeout: 120_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 2400 } });
    // Offline means offline: any request to another origin is refused and recorded.
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(server.url) || url.startsWith("data:")) return route.continue();
      offSite.push(url);
      return route.abort();
    });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));

    await page.goto(`${server.url}/docs`);
    await page.locator(".opblock").first().waitFor({ timeout: 30_000 });
    const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, object> };
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

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "docs.png"), fullPage: false });
    expect(offSite).toEqual([]);
    expect(errors).toEqual([]);
  });
});
