import { launchFirefox } from '../helpers/browsers';
import { fallbackScenarios } from '../helpers/fallback-scenarios';

describe('bridge fallback in Firefox ESR behind a buffering proxy', () => {
  fallbackScenarios(launchFirefox);
});
