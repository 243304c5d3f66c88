import type { StartOptions } from '../src';

/**
 * pushframe as the bench runs it: limits opened up for one client machine (every stream
 * comes from loopback) and the housekeeping that would add traffic of its own switched
 * off ($sys/stats, recycling, and heartbeats unless the idle scenario sets an interval
 * through PUSHFRAME_BENCH_HEARTBEAT_MS; 5 min otherwise).
 */
export function benchServerOptions(): StartOptions {
  return {
    port: 0,
    host: '127.0.0.1',
    demo: false,
    logLevel: 'warn',
    statsIntervalMs: 0,
    heartbeatMs: Number(process.env.PUSHFRAME_BENCH_HEARTBEAT_MS) || 300_000,
    maxStreamBytes: 1 << 30,
    maxConnections: 1_000_000,
    maxConnectionsPerIp: 1_000_000,
  };
}
