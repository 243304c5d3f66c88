import { launchChromium } from '../helpers/browsers';
import { bridgeScenarios } from '../helpers/bridge-scenarios';

describe('bridge in Chromium (playwright-core, /usr/bin/chromium)', () => {
  bridgeScenarios(launchChromium);
});
