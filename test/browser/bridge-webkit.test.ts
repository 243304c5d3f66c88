import { launchWebKit } from '../helpers/browsers';
import { bridgeScenarios } from '../helpers/bridge-scenarios';

describe('bridge in WebKitGTK (WebKitWebDriver under Xvfb); heartbeat shortened to 500 ms', () => {
  bridgeScenarios(launchWebKit);
});
