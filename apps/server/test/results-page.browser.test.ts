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
  throw new Error(`The rich results page test needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
if (!available) console.warn(`Skipping the rich results page test: no Chromium at ${CHROMIUM}`);

describe.skipIf(!available)("/docs/results in a headless Chromium", () => {
  let server: LiveServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startLiveServer();
    // --no-sandbox: Chromium's own sandbox refuses to run as root, which CI is.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("renders a DataFrame as a table, a plot and an SVG as images, JSON, and the exception", { timeout: 120_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1800 } });
    const offSite: string[] = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(server.url) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
      offSite.push(url);
      return route.abort();
    });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });

    await page.goto(`${server.url}/docs/results`);
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

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "rich-results.png"), fullPage: true });
    expect(offSite).toEqual([]);
    expect(errors).toEqual([]);
  });
});
