import { launchWebKit } from '../helpers/browsers';
import { fallbackScenarios } from '../helpers/fallback-scenarios';

describe('bridge fallback in WebKitGTK behind a buffering proxy; timers shortened (heartbeat 500 ms, open timeout 1.5 s, re-probe 3 s)', () => {
  fallbackScenarios(launchWebKit);
});
