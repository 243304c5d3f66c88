import { launchFirefox } from '../helpers/browsers';
import { bridgeScenarios } from '../helpers/bridge-scenarios';

// The readable source as written (public/pushframe.js); Chromium runs the minified build.
describe('bridge in Firefox ESR (puppeteer-core, /usr/bin/firefox-esr), the readable file; heartbeat shortened to 500 ms', () => {
  bridgeScenarios(launchFirefox, 'readable');
});
