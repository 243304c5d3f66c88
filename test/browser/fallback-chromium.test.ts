import { launchChromium } from '../helpers/browsers';
import { fallbackScenarios } from '../helpers/fallback-scenarios';

describe('bridge fallback in Chromium behind a buffering proxy', () => {
  fallbackScenarios(launchChromium);
});
