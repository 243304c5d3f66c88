/**
 * A server, socket or browser that a test left open keeps jest's process alive after the
 * run, and CI would wait out its whole time limit. Give the process a while to end on its
 * own, then end it as a failure that names the cause.
 */
export default async function globalTeardown(): Promise<void> {
  const graceMs = 15000;
  setTimeout(() => {
    process.stderr.write(
      `\njest: ${graceMs / 1000} s after the run, something a test opened is still open; failing instead of hanging (find it with --detectOpenHandles)\n`,
    );
    process.exit(1);
  }, graceMs).unref();
}
