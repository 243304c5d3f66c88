import type nunjucks from 'nunjucks';
import type { Config } from '../config';
import type { Hub } from '../hub';
import type { Logger } from '../log';
import type { SysStats } from '../sysstats';
import type { ConnectionRegistry } from '../transports';
import type { BrowserBudget } from './browsers';
import type { ConnectionLimits } from './limits';
import type { Metrics } from './metrics';
import type { ReplaceableStreams } from './replacing';
import type { TokenBuckets } from './rate';

/** What the HTTP layer is wired with: plain objects built by server.ts. */
export interface Deps {
  config: Config;
  hub: Hub;
  connections: ConnectionRegistry;
  views: nunjucks.Environment;
  log: Logger;
  root: string;
  startedAt: number;
  /** Set once a graceful shutdown begins: new streams are refused with 503. */
  draining: { value: boolean };
  /** Connection slots of every long-lived request (total and per IP). */
  limits: ConnectionLimits;
  /** Long-lived requests per browser (maxStreamsPerBrowser). */
  budget: BrowserBudget;
  /** Held streams, by the token the request that replaces one names (`replaces=`). */
  replaceable: ReplaceableStreams;
  /** Publish rate per client; null when publishRate is 0 (unlimited). */
  publishBuckets: TokenBuckets | null;
  metrics: Metrics;
  /** `GET /metrics` answers with this instead of `metrics.registry` (a cluster worker's: every worker's). */
  metricsText?: () => Promise<string>;
  /** The `_sys/stats` sampler (its recent samples feed the demo dashboard). */
  sysStats?: SysStats;
}
