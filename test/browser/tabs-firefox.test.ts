import { launchFirefox } from '../helpers/browsers';
import { tabScenarios } from '../helpers/tab-scenarios';

describe("many tabs, one stream: Firefox ESR, one profile (puppeteer's default context)", () => {
  tabScenarios(launchFirefox);
});
