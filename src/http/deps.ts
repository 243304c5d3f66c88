import type nunjucks from 'nunjucks';
import type { Config } from '../config';
import type { Hub } from '../hub';
import type { Logger } from '../log';
import type { SysStats } from '../sysstats';
import type { ConnectionRegistry } from '../transports';

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
  /** The `_sys/stats` sampler (its recent samples feed the demo dashboard). */
  sysStats?: SysStats;
}
