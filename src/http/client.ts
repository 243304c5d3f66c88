import type Koa from 'koa';
import { PushframeError } from '../errors';
import type { Config } from '../config';
import type { Exchange } from './exchange';
import { clientInfo, compileTrust, type ClientInfo, type ForwardedHeader, type ProxyTrust } from '../proxy';

const INFO = Symbol('pushframe.client');

type WithInfo = Exchange & { [INFO]?: ClientInfo };

const compiled = new WeakMap<Config, ProxyTrust>();

/** The configuration's trust rules, compiled once per configuration. */
export function proxyTrust(config: Config): ProxyTrust {
  let t = compiled.get(config);
  if (!t) {
    t = { trusts: compileTrust(config.trustProxy), header: config.forwardedHeader as ForwardedHeader };
    compiled.set(config, t);
  }
  return t;
}

/** The client's address, scheme and host, through trusted proxies only; computed once per request. */
export function client(ctx: Exchange, config: Config): ClientInfo {
  const c = ctx as WithInfo;
  c[INFO] ??= clientInfo(ctx.req, proxyTrust(config));
  return c[INFO];
}

/** The host part of a Host value, lower-cased, without port or IPv6 brackets. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? '' : h.slice(1, end);
  }
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Is this a host name the server answers to? A page that DNS rebinding has pointed at the
 * server asks for the attacker's host name; refusing names the operator has not listed
 * makes such a page's same-origin reads fail. IP literals cannot be rebound (the page's
 * origin is then the server's own address); localhost names and single-label names
 * (`intranet-box`) resolve locally, not through a domain an attacker can register.
 */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  if (allowed.includes('*')) return true;
  const name = hostName(host);
  // No Host at all (HTTP/1.0 tools): browsers always send one, so nothing was rebound.
  if (host.trim() === '') return true;
  if (name === '') return false;
  if (IPV4.test(name) || name.includes(':')) return true;
  if (name === 'localhost' || name.endsWith('.localhost') || !name.includes('.')) return true;
  return allowed.some((a) => {
    const entry = a.toLowerCase();
    return entry.startsWith('.') ? name === entry.slice(1) || name.endsWith(entry) : name === entry;
  });
}

/** Paths a load balancer's health check reaches with whatever Host it likes. */
const ANY_HOST_PATHS = new Set(['/healthz']);

/** Refuses requests for a host name the server does not answer to (421), before any route runs. */
export function hostCheck(config: Config): Koa.Middleware {
  return async (ctx, next) => {
    if (!ANY_HOST_PATHS.has(ctx.path)) checkHost(ctx, config);
    await next();
  };
}

/** Throws `unknown_host` (421) for a host name the server does not answer to. */
export function checkHost(ctx: Exchange, config: Config): void {
  const host = client(ctx, config).host;
  if (!hostAllowed(host, config.allowedHosts)) {
    throw new PushframeError(
      'unknown_host',
      `This server does not answer to the host name "${hostName(host).slice(0, 100)}"; list it in PUSHFRAME_ALLOWED_HOSTS.`,
    );
  }
}
