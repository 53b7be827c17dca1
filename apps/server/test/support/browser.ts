import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe } from "vitest";
import { type LiveServer, startLiveServer } from "../fixture.js";

/** Debian's chromium; CHROMIUM_PATH overrides it. */
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
/** Where screenshots are kept for people to look at (gitignored). */
const ARTIFACTS = join(import.meta.dirname, "..", "..", "test-results");

/** What a page test has: the live server, and what its pages did that they should not have. */
export interface BrowserTest {
  server(): LiveServer;
  /**
   * A new page, offline: any request to another origin is refused and recorded in
   * `offSite`; uncaught page errors land in `errors`, console errors in `consoleErrors`.
   */
  openPage(viewport: {
    width: number;
    height: number;
  }): Promise<{ page: Page; offSite: string[]; errors: string[]; consoleErrors: string[] }>;
  /** Saves a screenshot of the page under apps/server/test-results. */
  screenshot(page: Page, name: string, fullPage?: boolean): Promise<void>;
}

/**
 * A describe block with a live server and a headless Chromium. Without Chromium it
 * skips with a warning, except under CI=true, where it fails: nothing is skipped silently there.
 */
export function describeInChromium(title: string, tests: (context: BrowserTest) => void): void {
  const available = existsSync(CHROMIUM);
  if (!available && process.env.CI === "true") throw new Error(`${title} needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
  if (!available) console.warn(`Skipping ${title}: no Chromium at ${CHROMIUM}`);

  describe.skipIf(!available)(`${title} in a headless Chromium`, () => {
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

    tests({
      server: () => server,
      openPage: async (viewport) => {
        const page = await browser.newPage({ viewport });
        const offSite: string[] = [];
        await page.route("**/*", (route) => {
          const url = route.request().url();
          if (url.startsWith(server.url) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
          offSite.push(url);
          return route.abort();
        });
        const errors: string[] = [];
        const consoleErrors: string[] = [];
        page.on("pageerror", (error) => errors.push(error.message));
        page.on("console", (message) => {
          if (message.type() === "error") consoleErrors.push(message.text());
        });
        return { page, offSite, errors, consoleErrors };
      },
      screenshot: async (page, name, fullPage = true) => {
        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, name), fullPage });
      },
    });
  });
}
