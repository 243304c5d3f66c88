#!/usr/bin/env node
import { ConfigError, configFromArgs, configFromEnv, configHelp } from './config';
import { grant } from './auth';
import { startServer } from './server';
import { BrokerUnavailableError } from './brokers';

const USAGE = `pushframe: Comet server push (forever-frame streams, long-poll, SSE)

Usage:
  pushframe [flags]                       run the server (npm start)
  pushframe publish <channel> [json]      publish a message (json from the argument or stdin)
      --url <base>   server base URL (default http://localhost:$PORT/pushframe)
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

async function runServer(args: string[]): Promise<void> {
  const config = { ...configFromEnv(process.env), ...configFromArgs(args) };
  const server = await startServer(config);
  server.log.info({ url: server.url, broker: server.config.broker, prefix: server.config.prefix }, `pushframe listening on ${server.url}`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      server.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    server.log.info({ signal }, 'shutting down: streams are told to reconnect elsewhere');
    server.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function runPublish(args: string[]): Promise<void> {
  let url = `http://localhost:${process.env.PORT ?? 8080}/pushframe`;
  let key = process.env.PUSHFRAME_PUBLISH_KEY ?? '';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--url') url = args[++i] ?? '';
    else if (args[i] === '--key') key = args[++i] ?? '';
    else rest.push(args[i]);
  }
  const [channel, json] = rest;
  if (!channel || rest.length > 2) throw new ConfigError('usage: pushframe publish <channel> [json] [--url <base>] [--key <key>]');
  const body = json ?? (await readStdin());
  try {
    JSON.parse(body);
  } catch {
    throw new ConfigError('the message must be valid JSON, e.g. \'{"hello":1}\' or \'"text"\'');
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key) headers.authorization = 'Bearer ' + key;
  const res = await fetch(`${url.replace(/\/$/, '')}/publish/${channel}`, { method: 'POST', headers, body });
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

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof BrokerUnavailableError) {
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
