import { clientInfo, compileTrust, forwardedAddress, normalAddress, parseForwarded, type ProxyTrust } from '../../src/proxy';
import { hostAllowed } from '../../src/http/client';
import { sameOrigin } from '../../src/http/origins';

function req(peer: string, headers: Record<string, string> = {}, encrypted = false) {
  return { headers, socket: { remoteAddress: peer, encrypted } };
}
const xf = (setting: string): ProxyTrust => ({ trusts: compileTrust(setting), header: 'x-forwarded' });
const fw = (setting: string): ProxyTrust => ({ trusts: compileTrust(setting), header: 'forwarded' });

describe('trustProxy: which hops may report the client address', () => {
  test('by default no proxy is trusted: forwarding headers are ignored', () => {
    const r = req('10.0.0.5', { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' });
    expect(clientInfo(r, xf(''))).toEqual({ ip: '10.0.0.5', proto: 'http', host: '', proxied: false, forwardedProto: false });
  });

  test('loopback: the address the local proxy reports, never further than an untrusted hop', () => {
    // nginx appends its peer; whatever the client wrote before that is not believed.
    const r = req('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9', host: 'push.example.com' });
    expect(clientInfo(r, xf('loopback')).ip).toBe('203.0.113.9');
    // A forged header sent directly (peer not trusted) changes nothing.
    expect(clientInfo(req('203.0.113.9', { 'x-forwarded-for': '6.6.6.6' }), xf('loopback')).ip).toBe('203.0.113.9');
  });

  test('hop counts: exactly that many proxies are believed', () => {
    const r = req('10.0.0.2', { 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.0.0.1' });
    expect(clientInfo(r, xf('1')).ip).toBe('10.0.0.1');
    expect(clientInfo(r, xf('2')).ip).toBe('198.51.100.7');
    expect(clientInfo(r, xf('3')).ip).toBe('6.6.6.6');
    // More hops than the header names: the farthest address given.
    expect(clientInfo(r, xf('9')).ip).toBe('6.6.6.6');
    expect(clientInfo(r, xf('0')).ip).toBe('10.0.0.2');
  });

  test('CIDR ranges and address lists, IPv4 and IPv6', () => {
    const trust = xf('10.0.0.0/8, 2001:db8::/32');
    expect(clientInfo(req('10.9.8.7', { 'x-forwarded-for': '198.51.100.1, 10.1.1.1' }), trust).ip).toBe('198.51.100.1');
    expect(clientInfo(req('2001:db8::5', { 'x-forwarded-for': '2001:DB8:0:0::9, 2a00:1450::1' }), trust).ip).toBe('2a00:1450::1');
    expect(clientInfo(req('2001:db8::5', { 'x-forwarded-for': '2a00:1450::1, 2001:db8::9' }), trust).ip).toBe('2a00:1450::1');
    // Outside the ranges: the peer itself is the client.
    expect(clientInfo(req('11.0.0.1', { 'x-forwarded-for': '198.51.100.1' }), trust).ip).toBe('11.0.0.1');
    // IPv4-mapped peers match IPv4 ranges and count as the IPv4 address.
    expect(clientInfo(req('::ffff:10.0.0.3', { 'x-forwarded-for': '::ffff:198.51.100.2' }), trust).ip).toBe('198.51.100.2');
    // loopback covers ::1 too.
    expect(clientInfo(req('::1', { 'x-forwarded-for': '2a00:1450::2' }), xf('loopback')).ip).toBe('2a00:1450::2');
  });

  test('one client is one address however IPv6 is spelled', () => {
    expect(normalAddress('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(normalAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalAddress('::FFFF:7f00:1')).toBe('127.0.0.1');
    expect(normalAddress(undefined)).toBe('unknown');
  });

  test('a folded address is the same when asked again, past the number of addresses kept', () => {
    const spellings = (i: number): [string, string] => [`2001:DB8:0:0:0:0:${i.toString(16)}:1`, `2001:db8::${i.toString(16)}:1`];
    for (let i = 1; i <= 3000; i++) expect(normalAddress(spellings(i)[0])).toBe(spellings(i)[1]);
    for (let i = 1; i <= 3000; i += 7) expect(normalAddress(spellings(i)[0])).toBe(spellings(i)[1]);
    expect(normalAddress('10.0.0.1')).toBe('10.0.0.1');
    expect(normalAddress('HOST-NAME')).toBe('host-name');
    const long = ':'.repeat(100) + 'X';
    expect(normalAddress(long)).toBe(long.toLowerCase());
    expect(normalAddress(long)).toBe(long.toLowerCase());
  });

  test('malformed headers: the hop that reported garbage is the client, never the garbage', () => {
    for (const bad of ['not-an-ip', '1.2.3.4.5', '<script>', '999.1.1.1', 'unknown', ',,,', '1.2.3.4:80']) {
      const info = clientInfo(req('127.0.0.1', { 'x-forwarded-for': bad }), xf('2'));
      expect(info.ip).toBe('127.0.0.1');
    }
    // A valid address after (nearer than) the garbage is still used.
    expect(clientInfo(req('127.0.0.1', { 'x-forwarded-for': 'garbage, 198.51.100.3' }), xf('5')).ip).toBe('198.51.100.3');
    // Empty and whitespace-only headers.
    expect(clientInfo(req('127.0.0.1', { 'x-forwarded-for': '  ' }), xf('loopback')).ip).toBe('127.0.0.1');
  });

  test('X-Forwarded-Proto and -Host only from a trusted proxy, and only when well formed', () => {
    const headers = { host: '10.0.0.9:8080', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'www.example.com' };
    expect(clientInfo(req('127.0.0.1', headers), xf('loopback'))).toMatchObject({ proto: 'https', host: 'www.example.com', forwardedProto: true });
    expect(clientInfo(req('192.0.2.1', headers), xf('loopback'))).toMatchObject({ proto: 'http', host: '10.0.0.9:8080', forwardedProto: false });
    const odd = { host: 'a.example', 'x-forwarded-proto': 'gopher', 'x-forwarded-host': 'x y/../' };
    expect(clientInfo(req('127.0.0.1', odd), xf('loopback'))).toMatchObject({ proto: 'http', host: 'a.example', forwardedProto: false });
  });

  test('RFC 7239 Forwarded, when the proxies are said to write it', () => {
    const header = 'for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https;host="push.example.com", for=198.51.100.4:51000;proto=https;host=push.example.com';
    expect(parseForwarded(header)).toHaveLength(3);
    expect(forwardedAddress('"[2001:db8:cafe::17]:4711"'.slice(1, -1))).toBe('2001:db8:cafe::17');
    expect(forwardedAddress('unknown')).toBe('');
    expect(forwardedAddress('_hidden')).toBe('');
    const r = req('127.0.0.1', { forwarded: header, 'x-forwarded-for': '6.6.6.6' });
    expect(clientInfo(r, fw('loopback'))).toMatchObject({ ip: '198.51.100.4', proto: 'https', host: 'push.example.com' });
    expect(clientInfo(r, fw('2')).ip).toBe('2001:db8:cafe::17');
    // Which header counts is the operator's choice: the other is ignored.
    expect(clientInfo(req('127.0.0.1', { forwarded: 'for=198.51.100.4' }), xf('loopback')).ip).toBe('127.0.0.1');
    expect(clientInfo(req('127.0.0.1', { forwarded: 'for="unterminated' }), fw('loopback')).ip).toBe('127.0.0.1');
  });

  test('bad settings are refused with a reason', () => {
    expect(() => compileTrust('loopbak')).toThrow(/neither loopback/);
    expect(() => compileTrust('10.0.0.0/33')).toThrow();
    expect(() => compileTrust('99')).toThrow(/hop count/);
    expect(() => compileTrust('loopback, 10.0.0.0/8, ::1')).not.toThrow();
  });
});

describe('host names and same origin (DNS rebinding)', () => {
  test('IP literals, localhost and single-label names always; other names only when listed', () => {
    expect(hostAllowed('127.0.0.1:8080', [])).toBe(true);
    expect(hostAllowed('[::1]:8080', [])).toBe(true);
    expect(hostAllowed('localhost:3000', [])).toBe(true);
    expect(hostAllowed('app.localhost', [])).toBe(true);
    expect(hostAllowed('intranet-box:8080', [])).toBe(true);
    expect(hostAllowed('intranet-box.', [])).toBe(false);
    expect(hostAllowed('rebind.attacker.example:8080', [])).toBe(false);
    expect(hostAllowed('', [])).toBe(true); // HTTP/1.0 without Host: not a browser
    expect(hostAllowed('[', [])).toBe(false);
    expect(hostAllowed('push.example.com', ['push.example.com'])).toBe(true);
    expect(hostAllowed('PUSH.example.com:443', ['push.example.com'])).toBe(true);
    expect(hostAllowed('a.b.example.com', ['.example.com'])).toBe(true);
    expect(hostAllowed('example.com', ['.example.com'])).toBe(true);
    expect(hostAllowed('badexample.com', ['.example.com'])).toBe(false);
    expect(hostAllowed('anything', ['*'])).toBe(true);
  });

  test('same origin compares the host asked for, and the scheme when a trusted proxy reports it', () => {
    const direct = { ip: '1.1.1.1', proto: 'http', host: 'localhost:8080', proxied: false, forwardedProto: false };
    expect(sameOrigin('http://localhost:8080', direct)).toBe(true);
    expect(sameOrigin('https://localhost:8080', direct)).toBe(true);
    expect(sameOrigin('http://localhost:8081', direct)).toBe(false);
    const proxied = { ip: '1.1.1.1', proto: 'https', host: 'www.example.com', proxied: true, forwardedProto: true };
    expect(sameOrigin('https://www.example.com', proxied)).toBe(true);
    expect(sameOrigin('https://www.example.com:443', proxied)).toBe(true);
    expect(sameOrigin('http://www.example.com', proxied)).toBe(false);
  });
});
