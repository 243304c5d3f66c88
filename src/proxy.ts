/**
 * Who the client is when pushframe runs behind reverse proxies. Proxies report the
 * address they received a request from in `X-Forwarded-For` (or RFC 7239 `Forwarded`);
 * anyone can send those headers too, so they are read only as far back as the hops the
 * operator trusts (`trustProxy`), in Express's vocabulary: `loopback`, `linklocal`,
 * `uniquelocal`, addresses and CIDR ranges (a comma-separated list), or a hop count.
 *
 * The matching of addresses against ranges (IPv4, IPv6, IPv4-mapped IPv6, netmasks) is
 * done by `proxy-addr`, the module Express itself uses for this.
 */
import { isIP } from 'node:net';
import proxyAddr from 'proxy-addr';

/** `(address, hop)`: may the address at this hop (0 = the socket's peer) report an earlier one? */
export type TrustFn = (address: string, hop: number) => boolean;

/** Which headers a trusted proxy writes. */
export type ForwardedHeader = 'x-forwarded' | 'forwarded';

export interface ProxyTrust {
  trusts: TrustFn;
  header: ForwardedHeader;
}

/** What the server knows of the client once trusted proxies are accounted for. */
export interface ClientInfo {
  /** The client's address: the socket's peer, or the first untrusted hop before it. */
  ip: string;
  /** `http`/`https` as the client used it, when a trusted proxy said so; else the socket's. */
  proto: string;
  /** The Host the client asked for, when a trusted proxy said so (`X-Forwarded-Host`); else `Host`. */
  host: string;
  /** The request came through a trusted proxy (the socket's peer is trusted). */
  proxied: boolean;
  /** `proto` is what a trusted proxy reported, not merely the socket's scheme. */
  forwardedProto: boolean;
}

const RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
/** Longest hop count taken: a chain of proxies longer than this is a misconfiguration. */
const MAX_HOPS = 32;

const trustNone: TrustFn = () => false;

/**
 * Compiles a `trustProxy` setting; throws an Error whose message says what is wrong.
 * Empty (the default) trusts no proxy: forwarding headers are ignored.
 */
export function compileTrust(setting: string): TrustFn {
  const text = setting.trim();
  if (text === '' || text === 'false' || text === '0') return trustNone;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops > MAX_HOPS) throw new Error(`a hop count of at most ${MAX_HOPS}, got ${hops}`);
    return (_address, hop) => hop < hops;
  }
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const part of parts) {
    if (RANGE_NAMES.has(part)) continue;
    const slash = part.indexOf('/');
    const address = slash === -1 ? part : part.slice(0, slash);
    if (isIP(address) === 0) {
      throw new Error(`"${part}" is neither loopback, linklocal, uniquelocal, an address, a CIDR range nor a hop count`);
    }
  }
  try {
    return proxyAddr.compile(parts);
  } catch (err) {
    throw new Error(`"${text}": ${(err as Error).message}`);
  }
}

/** Folds IPv4-mapped IPv6 and spells IPv6 one way, so one client counts as one. */
export function normalAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  const lower = address.toLowerCase();
  // Nothing to fold without a colon: IPv4 as the kernel reports it, or a name.
  if (lower.indexOf(':') === -1) return lower;
  // Longer than any IPv6 address with a zone: not one to keep.
  if (lower.length > 64) return foldAddress(lower);
  let known = folded.get(lower);
  if (known === undefined) {
    // A client's address is read several times per request (budgets, limits, logs).
    if (folded.size >= FOLDED_MAX) folded.clear();
    folded.set(lower, (known = foldAddress(lower)));
  }
  return known;
}

/** Addresses with a colon, folded: IPv6 spelling takes a URL parse. */
const folded = new Map<string, string>();
const FOLDED_MAX = 1024;

function foldAddress(lower: string): string {
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  if (isIP(lower) === 6) {
    try {
      const host = new URL(`http://[${lower}]/`).hostname;
      const bare = host.slice(1, -1);
      const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(bare);
      if (mapped) {
        const hi = parseInt(mapped[1], 16);
        const lo = parseInt(mapped[2], 16);
        return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
      }
      return bare;
    } catch {
      return lower;
    }
  }
  return lower;
}

interface RequestLike {
  headers: Record<string, string | string[] | undefined>;
  socket: { remoteAddress?: string; encrypted?: boolean };
}

function headerText(req: RequestLike, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

/** One element of `Forwarded` (`for=...;proto=...;host=...`), names lower-cased, quotes removed. */
type ForwardedElement = Record<string, string>;

/**
 * RFC 7239 `Forwarded`, element by element (nearest proxy last). Values may be quoted;
 * `for=` may be `"[2001:db8::1]:4711"`, `1.2.3.4:80`, `unknown` or an obfuscated `_name`.
 * A malformed element yields an empty one, which no trust rule accepts as an address.
 */
export function parseForwarded(header: string): ForwardedElement[] {
  const out: ForwardedElement[] = [];
  if (header.length > 8192) return out;
  // Split on commas and semicolons outside quotes.
  let element: ForwardedElement = {};
  let pair = '';
  let quoted = false;
  const flushPair = (): void => {
    const eq = pair.indexOf('=');
    if (eq > 0) {
      const name = pair.slice(0, eq).trim().toLowerCase();
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
      if (!(name in element)) element[name] = value;
    }
    pair = '';
  };
  for (let i = 0; i < header.length; i++) {
    const c = header[i];
    if (c === '"') quoted = !quoted;
    if (!quoted && (c === ';' || c === ',')) {
      flushPair();
      if (c === ',') {
        out.push(element);
        element = {};
      }
      continue;
    }
    pair += c;
  }
  flushPair();
  out.push(element);
  return out;
}

/** The address in a `for=` value, without brackets or port; `''` when there is none. */
export function forwardedAddress(value: string | undefined): string {
  if (!value) return '';
  let v = value;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    v = end === -1 ? '' : v.slice(1, end);
  } else if (v.indexOf(':') !== -1 && isIP(v) === 0) {
    v = v.slice(0, v.lastIndexOf(':')); // 1.2.3.4:80
  }
  return isIP(v) === 0 ? '' : v;
}

function firstValue(text: string): string {
  const comma = text.indexOf(',');
  return (comma === -1 ? text : text.slice(0, comma)).trim();
}

const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/**
 * The client's address, scheme and host for one request. Addresses are walked from the
 * socket's peer backwards through the forwarding header while each hop is trusted; the
 * first untrusted one is the client. A hop that reported something that is not an
 * address (`unknown`, garbage) ends the walk at that hop, which is then the client.
 */
export function clientInfo(req: RequestLike, trust: ProxyTrust): ClientInfo {
  const peer = req.socket.remoteAddress ?? '';
  const ownProto = req.socket.encrypted ? 'https' : 'http';
  const ownHost = headerText(req, 'host');
  const peerIp = normalAddress(peer);
  if (!trust.trusts(peerIp, 0)) {
    return { ip: peerIp, proto: ownProto, host: ownHost, proxied: false, forwardedProto: false };
  }
  let chain: string[];
  let proto = '';
  let host = '';
  if (trust.header === 'forwarded') {
    const elements = parseForwarded(headerText(req, 'forwarded'));
    // Each proxy appends: the nearest hop comes last.
    chain = elements.map((e) => forwardedAddress(e.for)).reverse();
    const nearest = elements[elements.length - 1] ?? {};
    proto = (nearest.proto ?? '').toLowerCase();
    host = nearest.host ?? '';
  } else {
    const fake = { headers: { 'x-forwarded-for': headerText(req, 'x-forwarded-for') }, socket: { remoteAddress: peer } };
    // [peer, nearest hop, ..., farthest]: the header's own parsing, as Express reads it.
    chain = proxyAddr.all(fake as never).slice(1);
    proto = firstValue(headerText(req, 'x-forwarded-proto')).toLowerCase();
    host = firstValue(headerText(req, 'x-forwarded-host'));
  }
  let ip = peerIp;
  for (let hop = 0; hop < chain.length; hop++) {
    const next = chain[hop];
    if (isIP(next) === 0) break;
    ip = normalAddress(next);
    if (!trust.trusts(ip, hop + 1)) break;
  }
  const known = proto === 'http' || proto === 'https';
  return {
    ip,
    proto: known ? proto : ownProto,
    host: host !== '' && HOST.test(host) ? host : ownHost,
    proxied: true,
    forwardedProto: known,
  };
}
