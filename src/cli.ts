#!/usr/bin/env node
import { ConfigError, configFromArgs, configFromEnv, configHelp, type Config } from './config';
import { WorkerStartError, startCluster } from './cluster';
import type { Logger } from './log';
import { grant } from './auth';
import { startServer } from './server';
import { BrokerUnavailableError } from './brokers';

const USAGE = `pushframe: Comet server push (forever-frame streams, long-poll, SSE)

Usage:
  pushframe [flags]                       run the server (npm start)
  pushframe publish <channel> [json]      publish a message (json from the argument or stdin)
      --url <base>   server base URL; by default built from the server's settings:
      --port <n>     (default $PUSHFRAME_PORT, $PORT, 8080)
      --host <h>     (default $PUSHFRAME_HOST, $HOST, localhost)
      --prefix <p>   (default $PUSHFRAME_PREFIX, /pushframe)
      --key <key>    publish key (default $PUSHFRAME_PUBLISH_KEY)
  pushframe grant <patterns> [--ttl <seconds>]
                                          print a signed grant for private channels
      patterns       comma-separated, e.g. 'user:42/**,news'
      --ttl          seconds the grant is valid (default 3600)
      --secret <s>   signing secret (default $PUSHFRAME_SECRET)
  pushframe --help

Server flags and environment variables (flags win):
${configHelp()}
`;

/** Runs until SIGTERM/SIGINT, then `stop()` (graceful); a second signal exits at once. */
function onSignals(log: Logger, what: string, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, what);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handle('SIGTERM'));
  process.on('SIGINT', () => handle('SIGINT'));
}

async function runCluster(config: Partial<Config>): Promise<void> {
  const cluster = await startCluster(config);
  const { url, size } = cluster;
  cluster.log.info({ url, workers: size, broker: cluster.config.broker, prefix: cluster.config.prefix }, `pushframe listening on ${url} with ${size} workers`);
  onSignals(cluster.log, 'shutting down: every worker tells its streams to reconnect', () => cluster.shutdown());
  void cluster.failed.then(async () => {
    await cluster.shutdown();
    process.exit(1);
  });
}

async function runServer(args: string[]): Promise<void> {
  const config = { ...configFromEnv(process.env), ...configFromArgs(args) };
  if (config.workers !== undefined && config.workers !== '1') return runCluster(config);
  const server = await startServer(config);
  server.log.info({ url: server.url, broker: server.config.broker, prefix: server.config.prefix }, `pushframe listening on ${server.url}`);
  onSignals(server.log, 'shutting down: streams are told to reconnect elsewhere', () => server.shutdown());
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Where `publish` sends to: --url, else the server's own settings (flags, then environment). */
export function publishTarget(flags: Record<string, string>, env: NodeJS.ProcessEnv): string {
  if (flags.url) return flags.url.replace(/\/+$/, '');
  const port = flags.port ?? env.PUSHFRAME_PORT ?? env.PORT ?? '8080';
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new ConfigError(`the port must be a number from 0 to 65535, got "${port}"`);
  let host = flags.host ?? env.PUSHFRAME_HOST ?? env.HOST ?? 'localhost';
  // A server listening on every interface is reached on this machine's loopback.
  if (host === '0.0.0.0' || host === '::' || host === '') host = 'localhost';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  const prefix = (flags.prefix ?? env.PUSHFRAME_PREFIX ?? '/pushframe').replace(/\/+$/, '');
  return `http://${host}:${port}${prefix}`;
}

const PUBLISH_FLAGS = new Set(['url', 'key', 'port', 'host', 'prefix']);
const PUBLISH_USAGE = 'usage: pushframe publish <channel> [json] [--url <base> | --port <n> --host <h> --prefix <p>] [--key <key>]';

async function runPublish(args: string[]): Promise<void> {
  const flags: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(args[i]);
    if (!m) {
      rest.push(args[i]);
      continue;
    }
    if (!PUBLISH_FLAGS.has(m[1])) throw new ConfigError(`unknown flag --${m[1]}; ${PUBLISH_USAGE}`);
    const value = m[2] ?? args[++i];
    if (value === undefined) throw new ConfigError(`--${m[1]} needs a value`);
    flags[m[1]] = value;
  }
  const [channel, json] = rest;
  if (!channel || rest.length > 2) throw new ConfigError(PUBLISH_USAGE);
  const base = publishTarget(flags, process.env);
  const key = flags.key ?? process.env.PUSHFRAME_PUBLISH_KEY ?? '';
  const body = json ?? (await readStdin());
  try {
    JSON.parse(body);
  } catch {
    throw new ConfigError('the message must be valid JSON, e.g. \'{"hello":1}\' or \'"text"\'');
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key) headers.authorization = 'Bearer ' + key;
  let res: Response;
  try {
    res = await fetch(`${base}/publish/${channel}`, { method: 'POST', headers, body });
  } catch (err) {
    // fetch says only "fetch failed"; the reason (refused, unknown host) is its cause.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    process.stderr.write(`pushframe: no server answered at ${base} (${why}); start one, or point to it with --url, --port, --host or --prefix\n`);
    process.exitCode = 1;
    return;
  }
  const text = await res.text();
  if (!res.ok) {
    process.stderr.write(`publish failed: HTTP ${res.status} ${text}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(text + '\n');
}

function runGrant(args: string[]): void {
  let ttl = 3600;
  let secret = process.env.PUSHFRAME_SECRET ?? '';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--ttl') ttl = Number(args[++i]);
    else if (args[i] === '--secret') secret = args[++i] ?? '';
    else rest.push(args[i]);
  }
  if (rest.length !== 1) throw new ConfigError('usage: pushframe grant <patterns> [--ttl <seconds>] [--secret <secret>]');
  if (!secret) throw new ConfigError('no secret: set PUSHFRAME_SECRET (or --secret), the same one the server uses');
  try {
    process.stdout.write(grant(secret, rest[0].split(','), ttl) + '\n');
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  if (argv[0] === 'publish') return runPublish(argv.slice(1));
  if (argv[0] === 'grant') return runGrant(argv.slice(1));
  return runServer(argv);
}

// Run as the bin; imported (tests) it only exports.
if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    if (err instanceof ConfigError || err instanceof BrokerUnavailableError || err instanceof WorkerStartError) {
      process.stderr.write(`pushframe: ${err.message}\n`);
      process.exit(2);
    }
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'EADDRINUSE') {
      process.stderr.write(`pushframe: port already in use (${e.message}); set PORT or --port\n`);
      process.exit(2);
    }
    process.stderr.write(`pushframe: ${e?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
