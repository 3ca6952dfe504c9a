/**
 * Headless Chromium for the dashboard's tests: Debian's `chromium` driven by playwright-core.
 * `chromiumOrSkip` says why the browser cannot run here (the tests then skip with that reason);
 * `watchPage` collects what must never happen on a page: script errors and requests that leave
 * the orchestrator's origin.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { packageRoot } from "../../protocol/package.js";

export const CHROMIUM = "/usr/bin/chromium";

/** Screenshots for people to look at (gitignored). */
export const ARTIFACTS = join(packageRoot(), "test-artifacts", "dashboard");

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** The browser, or the reason it cannot start here. */
export async function chromiumOrSkip(): Promise<Browser | string> {
  if (!existsSync(CHROMIUM)) return `no ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does)`;
  try {
    return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"] });
  } catch (err) {
    return `${CHROMIUM} does not start: ${(err as Error).message.split("\n")[0]}`;
  }
}

export interface WatchedPage {
  page: Page;
  /** Uncaught script errors and requests to any other origin, as text. */
  problems: string[];
  shot(name: string): Promise<string>;
}

export async function watchPage(browser: Browser, origin: string, viewport = DESKTOP): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`script error: ${err.message}`));
  page.on("request", (req) => {
    const url = req.url();
    if (!url.startsWith(origin) && !url.startsWith("data:")) problems.push(`request left the orchestrator: ${url}`);
  });
  await mkdir(ARTIFACTS, { recursive: true });
  return {
    page,
    problems,
    async shot(name) {
      const file = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
  };
}

/** performance.mark entries of the page, by name → ms since navigation start and the epoch ms. */
export async function marks(page: Page, prefix: string): Promise<Array<{ name: string; at: number; epoch: number }>> {
  return page.evaluate(
    (p) => performance.getEntriesByType("mark").filter((m) => m.name.startsWith(p)).map((m) => ({ name: m.name, at: m.startTime, epoch: performance.timeOrigin + m.startTime })),
    prefix,
  );
}
