import { launchFirefox } from '../helpers/browsers';
import { bridgeScenarios } from '../helpers/bridge-scenarios';

describe('bridge in Firefox ESR (puppeteer-core, /usr/bin/firefox-esr)', () => {
  bridgeScenarios(launchFirefox);
});
