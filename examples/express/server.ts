/**
 * The smallest Express application with live updates: pushframe's handler mounted before
 * the application's own routes, one script tag and one line in the page.
 *
 *   npm run build && node dist/examples/express/server.js
 *   open http://localhost:3000/
 *
 * (express is a dev dependency of pushframe, for this example and its test.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { applyStreamSettings, createPushframe, streamServerOptions, type Pushframe } from '../../src';

const PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Clock · pushframe with Express</title></head>
<body>
<p>Server time: <b id="now">(waiting)</b></p>
<script src="/pushframe/pushframe.js"></script>
<script>
  var pf = Pushframe.connect({ channels: ['clock'] });
  pf.on('clock', function (data) { document.getElementById('now').innerHTML = data.time; });
</script>
</body></html>`;

export interface ExpressExample {
  push: Pushframe;
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

export async function startExpressExample(options: { port?: number; host?: string; tickMs?: number; logLevel?: string } = {}): Promise<ExpressExample> {
  const push = await createPushframe({ logLevel: options.logLevel ?? 'info' });
  const app = express();
  app.use(push.handler()); // before body parsers: pushframe reads its own publish bodies
  app.get('/', (_req, res) => {
    res.type('html').send(PAGE);
  });

  const server = applyStreamSettings(http.createServer(streamServerOptions(), app));
  await new Promise<void>((resolve) => server.listen(options.port ?? 3000, options.host ?? '0.0.0.0', resolve));
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address === '0.0.0.0' || address === '::' ? 'localhost' : address}:${port}`;

  const timer = setInterval(() => {
    push.publish('clock', { time: new Date().toISOString() }).catch((err: unknown) => push.log.warn({ err }, 'publish failed'));
  }, options.tickMs ?? 1000);
  timer.unref();

  return {
    push,
    server,
    url,
    async close() {
      clearInterval(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await push.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

if (require.main === module) {
  startExpressExample({ port: Number(process.env.PORT ?? 3000) }).then(
    (example) => {
      example.push.log.info(`clock on ${example.url}/`);
      const stop = (): void => {
        example.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err: unknown) => {
      process.stderr.write(`could not start: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
