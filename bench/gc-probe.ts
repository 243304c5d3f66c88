/**
 * Preloaded into the soak's server process (`node --expose-gc -r dist/bench/gc-probe.js`):
 * on SIGUSR2 it runs a full garbage collection and prints the memory that is still live,
 * which tells a leak from a heap V8 simply has not collected yet.
 */
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  const m = process.memoryUsage();
  process.stdout.write(JSON.stringify({ gcProbe: { rss: m.rss, heapUsed: m.heapUsed, external: m.external, collected: gc !== undefined } }) + '\n');
});
