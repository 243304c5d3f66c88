import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { freePort, waitForPort } from './ports';

/** The little a test needs from a browser page, whichever driver runs it. */
export interface TestPage {
  goto(url: string, timeoutMs?: number): Promise<void>;
  /** A real click (pointer events through the browser), on the first element matching `selector`. */
  click(selector: string): Promise<void>;
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

/** What a suite may ask of any engine's launch. */
export interface LaunchOptions {
  /** Accept the test's self-signed TLS certificates (a browser flag or capability, never a page's choice). */
  insecureCerts?: boolean;
}

const CHROMIUM = '/usr/bin/chromium';
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
const FIREFOX = '/usr/bin/firefox-esr';

function requireBinary(path: string, debianPackage: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}).`);
  }
}

/**
 * Debian's Chromium through playwright-core, headless, with a fresh profile. `extraArgs`
 * adds command-line switches (e.g. `--host-resolver-rules` to reach loopback by a name).
 */
export async function launchChromium(extraArgs: string[] = []): Promise<TestBrowser> {
  requireBinary(CHROMIUM, 'chromium');
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'pushframe-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 800, height: 600 },
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
  return {
    name: 'chromium',
    newPage: async () => playwrightPage(await context.newPage()),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

type PlaywrightPage = Awaited<ReturnType<import('playwright-core').BrowserContext['newPage']>>;

function playwrightPage(page: PlaywrightPage): TestPage {
  return {
    goto: async (url, timeoutMs = 10000) => {
      await page.goto(url, { waitUntil: 'load', timeout: timeoutMs });
    },
    click: (selector) => page.click(selector),
    evaluate: (expression) => page.evaluate(expression),
    screenshot: async (path) => {
      await page.screenshot({ path });
    },
    close: () => page.close(),
  };
}

/** One browser profile whose tabs share cookies, cache and connections (a real user's browser). */
export interface TestContext {
  newPage(): Promise<TestPage>;
  close(): Promise<void>;
}

export interface TestContextBrowser {
  readonly name: string;
  /** A fresh profile: playwright's `browser.newContext()`; its pages are tabs of one browser. */
  newContext(): Promise<TestContext>;
  close(): Promise<void>;
}

/**
 * Debian's Chromium through playwright-core as a browser with contexts (`browser.newContext()`,
 * then `context.newPage()` per tab), for tests about tabs of one profile. `extraArgs` adds
 * command-line switches (e.g. `--ignore-certificate-errors` for a test's self-signed certificate).
 */
export async function launchChromiumBrowser(extraArgs: string[] = []): Promise<TestContextBrowser> {
  requireBinary(CHROMIUM, 'chromium');
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
  return {
    name: 'chromium',
    async newContext() {
      const context = await browser.newContext({ viewport: { width: 800, height: 600 }, ignoreHTTPSErrors: extraArgs.includes('--ignore-certificate-errors') });
      return {
        newPage: async () => playwrightPage(await context.newPage()),
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

/**
 * One Chromium profile holding many tabs: `chromium.launch()`, ONE `browser.newContext()`,
 * and `context.newPage()` per tab, so the tabs share storage, locks, BroadcastChannel and
 * the six connections per host.
 */
export async function launchChromiumContext(options: LaunchOptions = {}): Promise<TestBrowser> {
  const browser = await launchChromiumBrowser(options.insecureCerts ? ['--ignore-certificate-errors'] : []);
  const context = await browser.newContext();
  return {
    name: 'chromium',
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      await browser.close();
    },
  };
}

/** Starts one engine's browser as one profile. */
export type Launch = (options?: LaunchOptions) => Promise<TestBrowser>;

/**
 * The three engines the browser suites run in, each as one profile whose pages are tabs
 * of one browser, for `describe.each`: [name, launch].
 */
export const ENGINES: readonly (readonly [string, Launch])[] = [
  ['Chromium', (options) => launchChromiumContext(options)],
  ['Firefox ESR', (options) => launchFirefox(options)],
  ['WebKitGTK', (options) => launchWebKit(options)],
];

/** An engine's name as a channel segment: its first word, lower case ('firefox' for Firefox ESR). */
export function engineSlug(engine: string): string {
  return engine.split(' ')[0].toLowerCase();
}

/**
 * Runs `scenario` in the three engines at once and waits for every one; fails naming
 * each engine that failed, with its error. For scenarios that bring their own servers
 * and spend most of their time waiting (watchdogs, nginx's fail_timeout, restarts):
 * side by side, the waits overlap.
 */
export async function inEveryEngineAtOnce(scenario: (engine: string, launch: Launch) => Promise<void>): Promise<void> {
  await allNamed(ENGINES.map(([engine, launch]) => [engine, scenario(engine, launch)] as const));
}

/** Waits for every run; fails naming each run that failed, with its error. */
export async function allNamed(runs: readonly (readonly [string, Promise<void>])[]): Promise<void> {
  const results = await Promise.allSettled(runs.map(([, run]) => run));
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`${runs[i][0]}: ${r.reason instanceof Error ? (r.reason.stack ?? r.reason.message) : String(r.reason)}`] : [],
  );
  if (failed.length > 0) throw new Error(failed.join('\n\n'));
}

/** Debian's Firefox ESR through puppeteer-core (WebDriver BiDi), headless. */
export async function launchFirefox(options: LaunchOptions = {}): Promise<TestBrowser> {
  requireBinary(FIREFOX, 'firefox-esr');
  const puppeteer = (await import('puppeteer-core')).default;
  const profile = mkdtempSync(join(tmpdir(), 'pushframe-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    userDataDir: profile,
    defaultViewport: { width: 800, height: 600 },
    acceptInsecureCerts: options.insecureCerts === true,
  });
  return {
    name: 'firefox',
    async newPage() {
      const page = await browser.newPage();
      return {
        goto: async (url, timeoutMs = 10000) => {
          await page.goto(url, { waitUntil: 'load', timeout: timeoutMs });
        },
        click: (selector) => page.click(selector),
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

const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';
const XVFB = '/usr/bin/Xvfb';

/** MiniBrowser lives in the multiarch library directory of whichever webkit2gtk API is installed. */
function miniBrowser(): string {
  for (const arch of readdirSync('/usr/lib').filter((d) => d.endsWith('-linux-gnu'))) {
    const base = join('/usr/lib', arch);
    for (const dir of readdirSync(base).filter((d) => d.startsWith('webkit2gtk-') || d.startsWith('webkitgtk-'))) {
      const path = join(base, dir, 'MiniBrowser');
      if (existsSync(path)) return path;
    }
  }
  throw new Error('MiniBrowser (WebKitGTK) is missing: install the Debian package "webkit2gtk-driver" (apt-get install webkit2gtk-driver).');
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Xvfb on a display it picks itself (`-displayfd`: no race with other X servers on the
 * machine); resolves with the display number once it accepts clients.
 */
function startXvfb(): Promise<{ display: string; child: ChildProcess }> {
  requireBinary(XVFB, 'xvfb');
  const child = spawn(XVFB, ['-displayfd', '3', '-screen', '0', '1024x768x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('Xvfb did not report its display within 10 s: ' + err.slice(-500)));
    }, 10_000);
    let out = '';
    (child.stdio[3] as Readable).on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^(\d+)\n/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({ display: ':' + m[1], child });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited (${code}) before it had a display: ${err.slice(-500)}`));
    });
  });
}

interface WebDriverAnswer {
  value: unknown;
}

/**
 * Debian's WebKitGTK (MiniBrowser) through WebKitWebDriver, plain W3C WebDriver over
 * HTTP, under an Xvfb the test starts. WebKitWebDriver drives one session; every page is
 * a window of it, and commands are serialized (each first switches to its window).
 */
export async function launchWebKit(options: LaunchOptions = {}): Promise<TestBrowser> {
  requireBinary(WEBKIT_DRIVER, 'webkit2gtk-driver');
  const binary = miniBrowser();
  const xvfb = await startXvfb();
  const port = await freePort();
  const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], {
    env: { ...process.env, DISPLAY: xvfb.display },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let driverErr = '';
  driver.stderr?.on('data', (c: Buffer) => (driverErr = (driverErr + c.toString()).slice(-2000)));
  const stop = async (): Promise<void> => {
    driver.kill('SIGTERM');
    xvfb.child.kill('SIGTERM');
    await Promise.all([exited(driver), exited(xvfb.child)]);
  };
  try {
    await waitForPort(port, 10_000, () => (driver.exitCode !== null ? `WebKitWebDriver exited: ${driverErr}` : null));
  } catch (err) {
    await stop();
    throw err;
  }
  const base = `http://127.0.0.1:${port}`;
  async function call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = (await res.json()) as WebDriverAnswer;
    const v = answer.value as { error?: string; message?: string } | null;
    if (!res.ok || (v && typeof v === 'object' && typeof v.error === 'string')) {
      throw new Error(`WebDriver ${method} ${path}: ${v?.error ?? res.status} ${v?.message ?? ''}`);
    }
    return answer.value;
  }
  let session: string;
  try {
    const created = (await call('POST', '/session', {
      capabilities: {
        alwaysMatch: {
          'webkitgtk:browserOptions': { binary, args: ['--automation'] },
          // Navigation returns at once and goto() waits for the load in short steps:
          // a page whose response is held must not hold every other window's commands.
          pageLoadStrategy: 'none',
          ...(options.insecureCerts ? { acceptInsecureCerts: true } : {}),
        },
      },
    })) as { sessionId: string };
    session = created.sessionId;
  } catch (err) {
    await stop();
    throw err;
  }
  const s = `/session/${session}`;
  // One command at a time: the window switch and the command must not interleave.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  let current = (await call('GET', `${s}/window`)) as string;
  let initialFree = true;
  const inWindow = async (handle: string): Promise<void> => {
    if (current === handle) return;
    await call('POST', `${s}/window`, { handle });
    current = handle;
  };
  return {
    name: 'webkit',
    async newPage() {
      const handle = await serial(async () => {
        if (initialFree) {
          initialFree = false;
          return current;
        }
        const made = (await call('POST', `${s}/window/new`, { type: 'window' })) as { handle: string };
        return made.handle;
      });
      const run = <T>(expression: string): Promise<T> =>
        serial(async () => {
          await inWindow(handle);
          return (await call('POST', `${s}/execute/sync`, { script: `return (${expression});`, args: [] })) as T;
        });
      // The old document is marked; the new one is loaded once it is unmarked and complete
      // (its load handlers ran in the task that set readyState). Not for fragment-only moves.
      // Navigation returns at once (pageLoadStrategy 'none'), so every navigation, close()'s
      // about:blank too, waits here: the next one must not mark a document about to go.
      const navigate = async (url: string, timeoutMs: number, inQueue = false): Promise<void> => {
        const script = (body: string): Promise<unknown> => call('POST', `${s}/execute/sync`, { script: body, args: [] });
        const start = async (): Promise<void> => {
          await inWindow(handle);
          await script('window.__leavingForGoto = true;');
          await call('POST', `${s}/url`, { url });
        };
        await (inQueue ? start() : serial(start));
        const probe = "!window.__leavingForGoto && document.readyState === 'complete'";
        // A script that meets the old document's unload fails ("no such frame"): not yet.
        const loaded = (): Promise<boolean> =>
          (inQueue ? script(`return (${probe});`) : run<boolean>(probe)).then((v) => v === true, () => false);
        const deadline = Date.now() + timeoutMs;
        while (!(await loaded())) {
          if (Date.now() > deadline) throw new Error(`${url} did not load within ${timeoutMs} ms`);
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      return {
        goto: (url, timeoutMs = 10000) => navigate(url, timeoutMs),
        evaluate: <T>(expression: string) => run<T>(expression),
        click: (selector) =>
          serial(async () => {
            await inWindow(handle);
            const found = (await call('POST', `${s}/element`, { using: 'css selector', value: selector })) as Record<string, string>;
            await call('POST', `${s}/element/${Object.values(found)[0]}/click`, {});
          }),
        screenshot: (path) =>
          serial(async () => {
            await inWindow(handle);
            writeFileSync(path, Buffer.from((await call('GET', `${s}/screenshot`)) as string, 'base64'));
          }),
        close: () =>
          serial(async () => {
            const handles = (await call('GET', `${s}/window/handles`)) as string[];
            // The session's last window stays (closing it would end the session): it is blanked instead.
            await inWindow(handle);
            if (handles.length > 1) {
              await call('DELETE', `${s}/window`);
              current = '';
              const rest = handles.filter((h) => h !== handle);
              await inWindow(rest[0]);
            } else {
              await navigate('about:blank', 10_000, true);
              initialFree = true;
            }
          }),
      };
    },
    async close() {
      try {
        await serial(() => call('DELETE', s));
      } finally {
        await stop();
      }
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
