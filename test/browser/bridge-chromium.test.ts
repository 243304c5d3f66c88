import { launchChromium } from '../helpers/browsers';
import { bridgeScenarios } from '../helpers/bridge-scenarios';

// What the server serves: the minified build (public/pushframe.min.js).
describe('bridge in Chromium (playwright-core, /usr/bin/chromium), the served minified file; heartbeat shortened to 500 ms', () => {
  bridgeScenarios(launchChromium, 'served');
});
