import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The little a test needs from a browser page, whichever driver runs it. */
export interface TestPage {
  goto(url: string): Promise<void>;
  /** Evaluates a JavaScript expression in the page and returns its (JSON-able) value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

export interface TestBrowser {
  readonly name: string;
  newPage(): Promise<TestPage>;
  close(): Promise<void>;
}

const CHROMIUM = '/usr/bin/chromium';
const FIREFOX = '/usr/bin/firefox-esr';

function requireBinary(path: string, debianPackage: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}).`);
  }
}

/** Debian's Chromium through playwright-core, headless, with a fresh profile. */
export async function launchChromium(): Promise<TestBrowser> {
  requireBinary(CHROMIUM, 'chromium');
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'pushframe-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 800, height: 600 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    name: 'chromium',
    async newPage() {
      const page = await context.newPage();
      return {
        goto: async (url) => {
          await page.goto(url, { waitUntil: 'load', timeout: 10000 });
        },
        evaluate: (expression) => page.evaluate(expression),
        screenshot: async (path) => {
          await page.screenshot({ path });
        },
        close: () => page.close(),
      };
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Debian's Chromium through playwright-core as one browser profile holding many tabs:
 * `chromium.launch()`, ONE `browser.newContext()`, and `context.newPage()` per tab, so
 * the tabs share storage, locks, BroadcastChannel and the six connections per host.
 */
export async function launchChromiumContext(): Promise<TestBrowser> {
  requireBinary(CHROMIUM, 'chromium');
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  return {
    name: 'chromium',
    async newPage() {
      const page = await context.newPage();
      return {
        goto: async (url) => {
          await page.goto(url, { waitUntil: 'load', timeout: 10000 });
        },
        evaluate: (expression) => page.evaluate(expression),
        screenshot: async (path) => {
          await page.screenshot({ path });
        },
        close: () => page.close({ runBeforeUnload: false }),
      };
    },
    async close() {
      await context.close();
      await browser.close();
    },
  };
}

/** Debian's Firefox ESR through puppeteer-core (WebDriver BiDi), headless. */
export async function launchFirefox(): Promise<TestBrowser> {
  requireBinary(FIREFOX, 'firefox-esr');
  const puppeteer = (await import('puppeteer-core')).default;
  const profile = mkdtempSync(join(tmpdir(), 'pushframe-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    userDataDir: profile,
    defaultViewport: { width: 800, height: 600 },
  });
  return {
    name: 'firefox',
    async newPage() {
      const page = await browser.newPage();
      return {
        goto: async (url) => {
          await page.goto(url, { waitUntil: 'load', timeout: 10000 });
        },
        evaluate: <T>(expression: string) => page.evaluate(expression) as Promise<T>,
        screenshot: async (path) => {
          await page.screenshot({ path: path as `${string}.png` });
        },
        close: () => page.close(),
      };
    },
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Polls `expression` in the page until it is truthy; fails with `what` after timeoutMs. */
export async function waitInPage(page: TestPage, expression: string, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await page.evaluate<boolean>('!!(' + expression + ')')) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
