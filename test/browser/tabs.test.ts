import { ENGINES } from '../helpers/browsers';
import { tabScenarios } from '../helpers/tab-scenarios';

// Each engine as one profile whose pages are tabs: playwright's browser.newContext() in
// Chromium, puppeteer's default context in Firefox ESR, the windows of one WebDriver
// session in WebKitGTK.
describe.each(ENGINES)('many tabs, one stream: %s, one profile', (_name, launch) => {
  tabScenarios(() => launch());
});
