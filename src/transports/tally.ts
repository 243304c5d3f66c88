/** Why the server ended a connection, for stats and metrics. */
export type DropReason = 'slow_consumer' | 'recycle' | 'shutdown' | 'error' | 'client_gone' | 'replaced';

/** Figures for one transport, shared by all its connections. */
export class Tally {
  open = 0;
  opened = 0;
  messages = 0;
  bytes = 0;
  readonly drops: Record<DropReason, number> = { slow_consumer: 0, recycle: 0, shutdown: 0, error: 0, client_gone: 0, replaced: 0 };

  constructor(readonly transport: string) {}
}
