import type Router from 'koa-router';
import { PushframeError } from '../../errors';
import { compareIds, type Message } from '../../protocol';
import { SYS_STATS_CHANNEL, type StatsSample } from '../../sysstats';
import { readBody } from '../body';
import { client } from '../client';
import type { Deps } from '../deps';
import { embedContext } from '../embed';
import { requestOrigin, sameOrigin } from '../origins';
import { requirePublishRights } from '../publishing';
import { collectStats } from './ops';

/** The channel the demo's form publishes to; the dashboard shows everything under demo/. */
export const DEMO_CHAT_CHANNEL = 'demo/chat';
const DEMO_PATTERN = 'demo/**';
/** Messages the dashboard's ticker shows when it is rendered (and keeps when live). */
const TICKER_SIZE = 12;
const NAME_MAX = 32;
const TEXT_MAX = 280;
/** Chart geometry shared with the page script in views/dashboard.njk. */
export const CHART = { width: 600, height: 160, points: 60 } as const;

export interface TickerItem {
  channel: string;
  id: string;
  name: string;
  text: string;
  at: number | null;
}

/**
 * The demo: a dashboard at `/` rendered on the server and kept live by pushframe
 * messages, and `POST /demo/publish`, which publishes a chat line on `demo/chat`. It
 * obeys the publish key and rate like the publish API: without a key (development) the
 * page's form posts freely; with one the page shows no form, since a key must never be
 * in a page. Off in production unless enabled explicitly (config `demo`).
 */
export function demoRoutes(router: Router, deps: Deps): void {
  const { config, hub, views } = deps;

  router.get('/', async (ctx) => {
    // The cursor first: whatever is published after this read arrives through the stream.
    const embed = await embedContext(hub, [SYS_STATS_CHANNEL, DEMO_PATTERN], config.prefix);
    const position = embed.cursor.slice(embed.cursor.indexOf('~') + 1);
    const epoch = embed.cursor.slice(0, embed.cursor.indexOf('~'));
    const found = await hub.broker.history(DEMO_PATTERN, { epoch, base: '0', channels: new Map() });
    // History comes channel by channel: interleave by id, then keep the newest.
    const recent = found.messages
      .filter((m) => compareIds(m.id, position) <= 0)
      .sort((a, b) => compareIds(a.id, b.id))
      .slice(-TICKER_SIZE);
    const samples = deps.sysStats?.history() ?? [];
    const stats = samples.length > 0 ? withTotals(samples[samples.length - 1], deps) : currentSample(deps);
    const seriesIn = samples.map((s) => s.rates.in);
    const seriesOut = samples.map((s) => s.rates.out);
    const max = niceMax(Math.max(1, ...seriesIn, ...seriesOut));
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = views.render('dashboard.njk', {
      embed,
      stats,
      transports: Object.entries(stats.connections.byTransport).map(([name, open]) => ({ name, open })),
      nodes: stats.nodes ?? [],
      statsChannel: SYS_STATS_CHANNEL,
      statsOff: config.statsIntervalMs === 0,
      statsIntervalMs: config.statsIntervalMs,
      prefix: config.prefix,
      origin: requestOrigin(ctx, config),
      publishKeySet: config.publishKey !== '',
      chart: {
        ...CHART,
        max,
        inLine: linePoints(seriesIn, max),
        outLine: linePoints(seriesOut, max),
        inArea: areaPoints(seriesIn, max),
      },
      series: { in: seriesIn, out: seriesOut },
      ticker: recent.reverse().map(tickerItem),
      tickerSize: TICKER_SIZE,
      chatChannel: DEMO_CHAT_CHANNEL,
      format: { bytes: formatBytes, rate: formatRate, uptime: formatUptime, time: formatTime },
    });
  });

  router.post('/demo/publish', async (ctx) => {
    // A cross-site page must not post into the demo through a visitor's browser.
    // Schemes are compared only when a trusted proxy reports them (origins.ts).
    const origin = ctx.get('origin');
    if ((origin !== '' && !sameOrigin(origin, client(ctx, config))) || ctx.get('sec-fetch-site') === 'cross-site') {
      throw new PushframeError('bad_origin');
    }
    // The same rules as the publish API: with a publish key set, the form (which never
    // has the key) is off and only a client holding the key posts here.
    requirePublishRights(ctx, deps);
    const type = ctx.get('content-type');
    const body = await readBody(ctx.req, 4096, config.headersTimeoutMs);
    let fields: { name?: unknown; text?: unknown };
    const isForm = /^application\/x-www-form-urlencoded\s*(;|$)/i.test(type);
    if (/^application\/json\s*(;|$)/i.test(type)) {
      try {
        fields = JSON.parse(body) as typeof fields;
      } catch {
        throw new PushframeError('bad_json');
      }
      if (typeof fields !== 'object' || fields === null) throw new PushframeError('bad_request', 'Send {"name": "...", "text": "..."}.');
    } else if (isForm) {
      const form = new URLSearchParams(body);
      fields = { name: form.get('name') ?? '', text: form.get('text') ?? '' };
    } else {
      throw new PushframeError('unsupported_media_type', 'Send a form (application/x-www-form-urlencoded) or JSON.');
    }
    const text = typeof fields.text === 'string' ? fields.text.trim() : '';
    const name = typeof fields.name === 'string' ? fields.name.trim() : '';
    if (text === '' || text.length > TEXT_MAX) throw new PushframeError('bad_request', `The text is 1-${TEXT_MAX} characters.`);
    if (name.length > NAME_MAX) throw new PushframeError('bad_request', `The name is at most ${NAME_MAX} characters.`);
    const id = await hub.publish(DEMO_CHAT_CHANNEL, { name: name || 'anonymous', text, at: Date.now() });
    if (isForm && ctx.get('x-requested-with') !== 'XMLHttpRequest' && ctx.accepts('json', 'html') === 'html') {
      // A plain form post (no script): back to the dashboard, which shows the new line.
      ctx.status = 303;
      ctx.redirect('/');
    } else {
      ctx.status = 202;
      ctx.body = { id };
    }
  });
}


function currentSample(deps: Deps): StatsSample {
  const s = collectStats(deps);
  const node = deps.sysStats?.node ?? 'node';
  return {
    at: Date.now(),
    node,
    uptimeSeconds: s.uptimeSeconds,
    connections: s.connections,
    messages: { in: s.messages.in, out: s.messages.written },
    rates: { in: 0, out: 0, bytesOut: 0 },
    bytes: s.bytes,
    memory: s.memory,
    nodes: [{ node, at: Date.now(), connections: s.connections.total, rates: { in: 0, out: 0, bytesOut: 0 }, rss: s.memory.rss, uptimeSeconds: s.uptimeSeconds }],
  };
}

/** The last sample's rates with totals as of now (the page itself is a connection more). */
function withTotals(last: StatsSample, deps: Deps): StatsSample {
  // Several nodes: the cluster's figures as last summed; this node's alone would mislead.
  if ((last.nodes?.length ?? 1) > 1) return last;
  return { ...currentSample(deps), rates: last.rates };
}

function tickerItem(m: Message): TickerItem {
  let data: unknown;
  try {
    data = JSON.parse(m.json);
  } catch {
    data = null;
  }
  const d = data as { name?: unknown; text?: unknown; at?: unknown } | null;
  if (d && typeof d === 'object' && typeof d.text === 'string') {
    return { channel: m.channel, id: m.id, name: typeof d.name === 'string' ? d.name : '', text: d.text, at: typeof d.at === 'number' ? d.at : null };
  }
  return { channel: m.channel, id: m.id, name: '', text: summary(data), at: null };
}

/** A one-line view of any message: a string as it is, an object's fields as `key: value`. */
export function summary(data: unknown): string {
  let text: string;
  if (typeof data === 'string') text = data;
  else if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    text = Object.entries(data)
      .slice(0, 6)
      .map(([k, v]) => k + ': ' + (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)))
      .join(' · ');
  } else text = JSON.stringify(data) ?? 'null';
  return text.length > 140 ? text.slice(0, 139) + '…' : text;
}

/** 1, 2, 5 × 10^n at or above `n`: axis maxima a reader can take in at a glance. */
export function niceMax(n: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(n)));
  for (const f of [1, 2, 5, 10]) if (f * p >= n) return f * p;
  return 10 * p;
}

function coords(values: readonly number[], max: number): [number, number][] {
  const { width, height, points } = CHART;
  const step = width / (points - 1);
  const offset = points - values.length;
  return values.map((v, i) => [round((offset + i) * step), round(height - (Math.min(v, max) / max) * (height - 8))]);
}

export function linePoints(values: readonly number[], max: number): string {
  return coords(values, max).map(([x, y]) => x + ',' + y).join(' ');
}

export function areaPoints(values: readonly number[], max: number): string {
  const c = coords(values, max);
  if (c.length === 0) return '';
  return c[0][0] + ',' + CHART.height + ' ' + linePoints(values, max) + ' ' + c[c.length - 1][0] + ',' + CHART.height;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export function formatBytes(n: number): string {
  if (n < 1024) return Math.round(n) + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  if (n < 1024 * 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + ' MiB';
  return (n / 1024 / 1024 / 1024).toFixed(2) + ' GiB';
}

export function formatRate(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}

export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d > 0) return d + 'd ' + h + 'h';
  if (h > 0) return h + 'h ' + m + 'm';
  if (m > 0) return m + 'm ' + s + 's';
  return s + 's';
}

function formatTime(at: number | null): string {
  if (at === null) return '';
  const t = new Date(at);
  const two = (n: number): string => (n < 10 ? '0' : '') + n;
  return two(t.getUTCHours()) + ':' + two(t.getUTCMinutes()) + ':' + two(t.getUTCSeconds()) + ' UTC';
}
