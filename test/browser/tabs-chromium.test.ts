import { launchChromiumContext } from '../helpers/browsers';
import { tabScenarios } from '../helpers/tab-scenarios';

describe('many tabs, one stream: Chromium, one profile (playwright browser.newContext)', () => {
  tabScenarios(launchChromiumContext);
});
