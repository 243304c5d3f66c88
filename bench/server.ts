/** pushframe under test: startServer from the package with the bench's settings (settings.ts). */
import { startServer } from '../src';
import { serveControl, type BenchData } from './control';
import { benchServerOptions } from './settings';

async function main(): Promise<void> {
  const server = await startServer(benchServerOptions());
  const hub = server.hub;
  const onError = (err: Error): void => {
    process.send?.({ op: 'error', message: `publish failed: ${err.message}` });
  };
  serveControl({
    port: server.port,
    streamPath: server.config.prefix + '/stream?channels=',
    publish: (channel: string, data: BenchData) => {
      hub.publish(channel, data).catch(onError);
    },
    close: () => server.close(),
  });
}

main().catch((err: Error) => {
  process.send?.({ op: 'error', message: err.stack ?? err.message });
  process.exit(1);
});
