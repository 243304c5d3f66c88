/**
 * All defaults in one object, validated at start. Every key can be set by a CLI flag
 * (`--heartbeat-ms 5000`), an environment variable (`PUSHFRAME_HEARTBEAT_MS=5000`), or
 * in code (`startServer({ heartbeatMs: 5000 })`). Unknown keys are rejected.
 */
import { isPattern } from './protocol';
import { compileTrust } from './proxy';

export interface Config {
  port: number;
  host: string;
  /** URL prefix of every pushframe endpoint. */
  prefix: string;
  /** `memory` or `redis://host:port`. */
  broker: string;
  /** Bearer key required to publish over HTTP; empty = open (refused in production). */
  publishKey: string;
  /** HMAC secret for private-channel grants. */
  secret: string;
  /** Origins whose pages may embed streams from another origin (and read poll/SSE via CORS). */
  allowedOrigins: string[];
  /** Subscription patterns naming private channels: subscribing to them needs a signed grant. */
  privateChannels: string[];
  /** Objects whose members may be JSONP callbacks (`Pushframe._poll.f1_a_2`): the bridge's own by default. */
  jsonpCallbacks: string[];
  /**
   * Heartbeat interval: the longest a stream stays silent. Short enough that the bridge
   * (its watchdog: interval + 2 s = 6 s) notices a dead stream within 10 s in every engine, since
   * Chromium gives no other sign (docs/bridge.md); far below proxy idle timeouts (30-60 s).
   */
  heartbeatMs: number;
  /** A stream is recycled after this many bytes so the iframe document does not grow forever. */
  maxStreamBytes: number;
  /** How long a long-poll request is held when nothing is waiting. */
  pollTimeoutMs: number;
  historySize: number;
  historyTtlMs: number;
  maxMessageBytes: number;
  maxChannels: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Long-lived requests one browser (a cookie) may hold; past it, requests are answered, not held. 0 = no budget. */
  maxStreamsPerBrowser: number;
  /** How long a browser over its budget waits between its quick requests. */
  cappedPollMs: number;
  /** Unsent bytes a connection may hold before it counts as a slow consumer and is closed. */
  maxBufferedBytes: number;
  /** Publishes per second per key or IP (0 = unlimited). */
  publishRate: number;
  /** On SIGTERM streams are told to reconnect after a random delay up to this. */
  reconnectJitterMs: number;
  /** Hard deadline for a graceful shutdown. */
  shutdownTimeoutMs: number;
  /** Serve the demo dashboard at `/`: on by default, off in production unless set explicitly. */
  demo: boolean;
  /** Publish the server's own figures on `_sys/stats` every this many ms (0 = off). */
  statsIntervalMs: number;
  /** Keep-latest channels (patterns such as `gauges/**`): every message on them is keyed by
   * its channel, so a lagging or resuming client gets only the newest one. */
  latestChannels: string[];
  logLevel: string;
  production: boolean;
  /** Request line + headers, in bytes; a longer query or header is refused with 431. */
  maxHeaderBytes: number;
  /** A client must finish sending its request headers (and a publish body) within this (slowloris). */
  headersTimeoutMs: number;
  /** Proxies trusted to report the client's address, scheme and host: `loopback`, addresses and
   * CIDR ranges, or a hop count (Express's vocabulary); empty = none, forwarding headers ignored. */
  trustProxy: string;
  /** Which headers trusted proxies write: `x-forwarded` (X-Forwarded-For/-Proto/-Host) or `forwarded` (RFC 7239). */
  forwardedHeader: string;
  /** Host names this server answers to (DNS rebinding): `push.example.com`, `.example.com` for a domain
   * and its subdomains, `*` for any. IP addresses, localhost and single-label names are always allowed. */
  allowedHosts: string[];
  /** This node's name in its figures (`_sys/stats/<node>`); empty = host name and port. */
  nodeId: string;
  /** Server processes behind the one port (node:cluster): a number, or `auto` for one per core.
   * 1 = this process serves, no cluster. */
  workers: string;
}

export const DEFAULTS: Config = {
  port: 8080,
  host: '0.0.0.0',
  prefix: '/pushframe',
  broker: 'memory',
  publishKey: '',
  secret: '',
  allowedOrigins: [],
  privateChannels: ['private/**'],
  jsonpCallbacks: ['Pushframe._poll'],
  heartbeatMs: 4_000,
  maxStreamBytes: 256 * 1024,
  pollTimeoutMs: 25_000,
  historySize: 1000,
  historyTtlMs: 300_000,
  maxMessageBytes: 64 * 1024,
  maxChannels: 50,
  maxConnections: 20_000,
  maxConnectionsPerIp: 200,
  maxStreamsPerBrowser: 2,
  cappedPollMs: 2_000,
  maxBufferedBytes: 1024 * 1024,
  publishRate: 0,
  reconnectJitterMs: 5_000,
  shutdownTimeoutMs: 10_000,
  demo: true,
  statsIntervalMs: 1_000,
  latestChannels: [],
  logLevel: 'info',
  production: false,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 15_000,
  trustProxy: '',
  forwardedHeader: 'x-forwarded',
  allowedHosts: [],
  nodeId: '',
  workers: '1',
};

type Kind = 'int' | 'string' | 'list' | 'bool';

interface Rule {
  kind: Kind;
  min?: number;
  max?: number;
  check?: (value: never) => string | null;
  help: string;
  /** The default as help and the README say it, when it is not just DEFAULTS' value. */
  shownDefault?: string;
}

/** A JSONP callback namespace: one to four dotted identifiers. */
const JSONP_NAMESPACE = /^[A-Za-z_$][\w$]{0,63}(\.[A-Za-z_$][\w$]{0,63}){0,3}$/;
/** Objects that reach the page's window, its navigation or its prototypes: never a namespace for callbacks. */
const GLOBAL_OBJECTS = new Set(['window', 'self', 'top', 'parent', 'frames', 'globalThis', 'opener', 'document', 'location', 'history', 'navigator', 'constructor', 'prototype', '__proto__']);

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const RULES: { [K in keyof Config]: Rule } = {
  port: { kind: 'int', min: 0, max: 65535, help: 'TCP port (PORT also works)' },
  host: { kind: 'string', help: 'interface to listen on (HOST also works)' },
  prefix: {
    kind: 'string',
    check: (v: string) => (/^(\/[A-Za-z0-9_.-]+)+$/.test(v) ? null : 'must look like /pushframe'),
    help: 'URL prefix of the endpoints',
  },
  broker: {
    kind: 'string',
    check: (v: string) => (v === 'memory' || /^rediss?:\/\/./.test(v) ? null : 'must be "memory" or a redis:// URL'),
    help: 'memory, or redis://host:port for several nodes',
  },
  publishKey: { kind: 'string', help: 'bearer key for POST /publish' },
  secret: { kind: 'string', help: 'HMAC secret for private-channel grants' },
  allowedOrigins: {
    kind: 'list',
    check: (v: string[]) => {
      const bad = v.find((o) => o !== '*' && !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o));
      return bad === undefined ? null : `"${bad}" is not an origin like https://www.example.com`;
    },
    help: 'comma-separated origins allowed to embed cross-origin',
  },
  privateChannels: {
    kind: 'list',
    check: (v: string[]) => {
      const bad = v.find((p) => !isPattern(p));
      return bad === undefined ? null : `"${bad}" is not a channel pattern like private/** or user/*`;
    },
    help: 'comma-separated patterns of channels that need a signed grant to subscribe',
  },
  jsonpCallbacks: {
    kind: 'list',
    check: (v: string[]) => {
      const bad = v.find((ns) => !JSONP_NAMESPACE.test(ns) || ns.split('.').some((s) => GLOBAL_OBJECTS.has(s)));
      return bad === undefined ? null : `"${bad}" is not a namespace of the page's own, like Pushframe._poll or myApp.jsonp`;
    },
    help: 'comma-separated objects whose generated members (f1_x, pos2) may be JSONP callbacks',
  },
  heartbeatMs: { kind: 'int', min: 50, max: 300_000, help: 'stream heartbeat interval' },
  maxStreamBytes: { kind: 'int', min: 4096, max: 1 << 30, help: 'recycle a stream after this many bytes' },
  pollTimeoutMs: { kind: 'int', min: 50, max: 120_000, help: 'how long a long-poll is held' },
  historySize: { kind: 'int', min: 1, max: 1_000_000, help: 'messages kept per channel' },
  historyTtlMs: { kind: 'int', min: 1000, max: 7 * 24 * 3600_000, help: 'how long messages are kept' },
  maxMessageBytes: { kind: 'int', min: 16, max: 16 * 1024 * 1024, help: 'largest message (JSON bytes)' },
  maxChannels: { kind: 'int', min: 1, max: 10_000, help: 'channels in one subscription' },
  maxConnections: { kind: 'int', min: 1, max: 10_000_000, help: 'open connections in total' },
  maxConnectionsPerIp: { kind: 'int', min: 1, max: 10_000_000, help: 'open connections per client IP' },
  maxStreamsPerBrowser: { kind: 'int', min: 0, max: 1000, help: 'streams and held polls per browser (cookie), 0 = no budget' },
  cappedPollMs: { kind: 'int', min: 100, max: 600_000, help: 'wait between requests of a browser over its budget' },
  maxBufferedBytes: { kind: 'int', min: 16 * 1024, max: 1 << 30, help: 'unsent bytes before a slow consumer is closed' },
  publishRate: { kind: 'int', min: 0, max: 10_000_000, help: 'publishes per second per key/IP, 0 = unlimited' },
  reconnectJitterMs: { kind: 'int', min: 0, max: 600_000, help: 'spread of reconnects on shutdown' },
  shutdownTimeoutMs: { kind: 'int', min: 0, max: 600_000, help: 'deadline for a graceful shutdown' },
  demo: {
    kind: 'bool',
    help: 'serve the demo dashboard at /; its posts obey the publish key and rate',
    shownDefault: 'true; false in production unless set',
  },
  statsIntervalMs: { kind: 'int', min: 0, max: 3600_000, help: 'publish _sys/stats this often, 0 = off' },
  latestChannels: {
    kind: 'list',
    check: (v: string[]) => {
      const bad = v.find((p) => !isPattern(p));
      return bad === undefined ? null : `"${bad}" is not a channel pattern like gauges/** or prices/*`;
    },
    help: 'comma-separated keep-latest channel patterns',
  },
  logLevel: {
    kind: 'string',
    check: (v: string) => (LEVELS.includes(v) ? null : `must be one of ${LEVELS.join(', ')}`),
    help: 'log level',
  },
  production: { kind: 'bool', help: 'production mode (NODE_ENV=production sets it)' },
  maxHeaderBytes: { kind: 'int', min: 1024, max: 1024 * 1024, help: 'request line + headers; larger gets 431' },
  headersTimeoutMs: { kind: 'int', min: 100, max: 600_000, help: 'time a client has to send its request headers or a publish body' },
  trustProxy: {
    kind: 'string',
    check: (v: string) => {
      try {
        compileTrust(v);
        return null;
      } catch (err) {
        return (err as Error).message;
      }
    },
    help: 'proxies trusted for the client address: loopback, addresses/CIDRs, or a hop count',
  },
  forwardedHeader: {
    kind: 'string',
    check: (v: string) => (v === 'x-forwarded' || v === 'forwarded' ? null : 'must be "x-forwarded" or "forwarded"'),
    help: 'headers the trusted proxies write: x-forwarded or forwarded',
  },
  allowedHosts: {
    kind: 'list',
    check: (v: string[]) => {
      const bad = v.find((h) => h !== '*' && !/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(h));
      return bad === undefined ? null : `"${bad}" is not a host name like push.example.com or .example.com`;
    },
    help: 'host names this server answers to besides IP addresses and localhost',
  },
  nodeId: {
    kind: 'string',
    check: (v: string) => (v === '' || /^[A-Za-z0-9_.:-]{1,100}$/.test(v) ? null : 'is 1-100 characters of [A-Za-z0-9_.:-]'),
    help: 'name of this node in _sys/stats/<node> (default: host name:port)',
  },
  workers: {
    kind: 'string',
    check: (v: string) => (/^(auto|[1-9][0-9]{0,2})$/.test(v) ? null : 'must be a number of processes from 1 to 999, or "auto" (one per core)'),
    help: 'server processes sharing the port, or auto (one per core); see docs/scaling.md',
  },
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const KEYS = Object.keys(RULES) as (keyof Config)[];

export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

export function envName(key: string): string {
  return 'PUSHFRAME_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

function parseText(key: keyof Config, text: string, source: string): unknown {
  const rule = RULES[key];
  switch (rule.kind) {
    case 'int': {
      if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${source}: expected a whole number, got "${text}"`);
      return Number(text.trim());
    }
    case 'bool': {
      const t = text.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on', ''].includes(t)) return true;
      if (['0', 'false', 'no', 'off'].includes(t)) return false;
      throw new ConfigError(`${source}: expected true or false, got "${text}"`);
    }
    case 'list':
      return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    default:
      return text;
  }
}

function checkValue(key: keyof Config, value: unknown, source: string): void {
  const rule = RULES[key];
  const ok =
    (rule.kind === 'int' && Number.isInteger(value)) ||
    (rule.kind === 'string' && typeof value === 'string') ||
    (rule.kind === 'bool' && typeof value === 'boolean') ||
    (rule.kind === 'list' && Array.isArray(value) && value.every((v) => typeof v === 'string'));
  if (!ok) throw new ConfigError(`${source}: expected ${rule.kind === 'list' ? 'a list of strings' : 'a ' + rule.kind}`);
  if (rule.kind === 'int') {
    const n = value as number;
    if ((rule.min !== undefined && n < rule.min) || (rule.max !== undefined && n > rule.max)) {
      throw new ConfigError(`${source}: ${n} is out of range ${rule.min}..${rule.max}`);
    }
  }
  const problem = rule.check?.(value as never);
  if (problem) throw new ConfigError(`${source}: ${problem}`);
}

/** Merges code options over defaults; rejects unknown keys and bad values. */
export function resolveConfig(options: Partial<Config> = {}): Config {
  const config: Config = {
    ...DEFAULTS,
    allowedOrigins: [...DEFAULTS.allowedOrigins],
    privateChannels: [...DEFAULTS.privateChannels],
    jsonpCallbacks: [...DEFAULTS.jsonpCallbacks],
    latestChannels: [...DEFAULTS.latestChannels],
    allowedHosts: [...DEFAULTS.allowedHosts],
  };
  for (const [key, value] of Object.entries(options)) {
    if (!(key in RULES)) throw new ConfigError(`unknown option "${key}"`);
    if (value === undefined) continue;
    checkValue(key as keyof Config, value, `option ${key}`);
    (config as unknown as Record<string, unknown>)[key] = value;
  }
  // The demo shows the server's figures to anyone and takes posts: in production only
  // when asked for by name.
  if (config.production && options.demo === undefined) config.demo = false;
  if (config.production && !config.publishKey) {
    throw new ConfigError(
      'production mode needs a publish key: set PUSHFRAME_PUBLISH_KEY (or --publish-key) so that strangers cannot publish',
    );
  }
  return config;
}

/** Reads `PUSHFRAME_*` (plus PORT, HOST, NODE_ENV); unknown PUSHFRAME_ names are rejected. */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<Config> {
  const out: Record<string, unknown> = {};
  const byEnv = new Map(KEYS.map((k) => [envName(k), k]));
  if (env.PORT !== undefined) out.port = parseText('port', env.PORT, 'PORT');
  if (env.HOST !== undefined) out.host = env.HOST;
  if (env.NODE_ENV === 'production') out.production = true;
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('PUSHFRAME_') || text === undefined) continue;
    const key = byEnv.get(name);
    if (!key) throw new ConfigError(`unknown environment variable ${name}; known: ${[...byEnv.keys()].join(', ')}`);
    out[key] = parseText(key, text, name);
  }
  return out as Partial<Config>;
}

/** Words a boolean flag takes as its value (`--demo false`); anything else after it is the next argument. */
const BOOL_WORDS = new Set(['true', 'false', 'yes', 'no', 'on', 'off', '1', '0']);

/** Parses `--flag value`, `--flag=value`, and booleans as `--flag`, `--no-flag`, `--flag false`. */
export function configFromArgs(args: readonly string[]): Partial<Config> {
  const out: Record<string, unknown> = {};
  const byFlag = new Map(KEYS.map((k) => [flagName(k), k]));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"; flags look like --port 8080`);
    const eq = arg.indexOf('=');
    let name = arg.slice(2, eq === -1 ? undefined : eq);
    let negate = false;
    if (!byFlag.has(name) && name.startsWith('no-') && RULES[byFlag.get(name.slice(3)) as keyof Config]?.kind === 'bool') {
      name = name.slice(3);
      negate = true;
    }
    const key = byFlag.get(name);
    if (!key) throw new ConfigError(`unknown flag --${name}; see --help`);
    let text: string;
    if (eq !== -1) text = arg.slice(eq + 1);
    else if (RULES[key].kind === 'bool' && !negate && i + 1 < args.length && BOOL_WORDS.has(args[i + 1].toLowerCase())) text = args[++i];
    else if (RULES[key].kind === 'bool') text = negate ? 'false' : 'true';
    else if (i + 1 < args.length) text = args[++i];
    else throw new ConfigError(`--${name} needs a value`);
    out[key] = parseText(key, text, '--' + name);
  }
  return out as Partial<Config>;
}

function shownDefault(k: keyof Config): string {
  const d = DEFAULTS[k];
  return RULES[k].shownDefault ?? (Array.isArray(d) ? d.join(',') : String(d));
}

export function configHelp(): string {
  return KEYS.map((k) => {
    const shown = shownDefault(k);
    return `  --${flagName(k).padEnd(24)} ${envName(k).padEnd(34)} ${RULES[k].help} (default: ${shown === '' ? 'none' : shown})`;
  }).join('\n');
}

/** The README's configuration table (a test keeps the README in step with it). */
export function configTable(): string {
  const rows = KEYS.map((k) => {
    const shown = shownDefault(k);
    return `| \`${envName(k)}\` | \`--${flagName(k)}\` | ${shown === '' ? '(none)' : shown} | ${RULES[k].help} |`;
  });
  return ['| environment | flag | default | what |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
