import { FrameScanner, HttpStreamReader, parseMessages, WireError, type Frame } from '../../bench/wire';

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n';

function chunk(text: string): string {
  return text.length.toString(16) + '\r\n' + text + '\r\n';
}

/** Feeds `wire` to a fresh reader in pieces of `size` bytes; returns the body. */
function readInPieces(wire: string, size: number): { body: string; reader: HttpStreamReader } {
  const reader = new HttpStreamReader();
  let body = '';
  for (let i = 0; i < wire.length; i += size) body += reader.feed(Buffer.from(wire.slice(i, i + size), 'latin1'));
  return { body, reader };
}

describe('HttpStreamReader', () => {
  const parts = ['<!DOCTYPE html>' + ' '.repeat(300), '<script>p.o("e~0",20000)</script>', '<script>p.m("a","1",{"s":0})</script>'];
  const wire = HEAD + parts.map(chunk).join('') + '0\r\n\r\n';

  it.each([1, 2, 3, 7, 64, wire.length])('decodes a chunked body fed %i bytes at a time', (size) => {
    const { body, reader } = readInPieces(wire, size);
    expect(body).toBe(parts.join(''));
    expect(reader.head?.status).toBe(200);
    expect(reader.head?.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(reader.headBytes).toBe(HEAD.length);
    expect(reader.wireBytes).toBe(wire.length);
    expect(reader.ended).toBe(true);
  });

  it('accepts chunk extensions and upper-case hex', () => {
    const text = 'x'.repeat(26);
    const { body } = readInPieces(HEAD + '1A;name=value\r\n' + text + '\r\n', 5);
    expect(body).toBe(text);
  });

  it('refuses a body that is not chunked', () => {
    const reader = new HttpStreamReader();
    expect(() => reader.feed('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')).toThrow(WireError);
  });

  it('refuses a bad chunk size and a chunk without its CRLF', () => {
    expect(() => new HttpStreamReader().feed(HEAD + 'zz\r\n')).toThrow(/bad chunk size/);
    expect(() => new HttpStreamReader().feed(HEAD + '3\r\nabcXY')).toThrow(/CRLF/);
  });

  it('refuses something that is not HTTP', () => {
    expect(() => new HttpStreamReader().feed('SSH-2.0-OpenSSH\r\n\r\n')).toThrow(/not an HTTP response/);
  });
});

describe('FrameScanner', () => {
  const preamble = '<html><head><script>var p=parent.Pushframe._frame("0");</script></head><body><!--' + ' '.repeat(50) + '-->';
  const frames = ['<script>p.o("e~5",20000)</script>', '<script>p.m("a/b","6",{"s":1,"t":2},"a/c","7","\\u003c/script\\u003e")</script>', '<script>p.h()</script>'];
  const body = preamble + frames.join('');

  it.each([1, 4, 9, 10, 33, body.length])('finds every frame and counts the rest, fed %i characters at a time', (size) => {
    const scanner = new FrameScanner();
    const out: Frame[] = [];
    for (let i = 0; i < body.length; i += size) scanner.push(body.slice(i, i + size), out);
    expect(out.map((f) => f.kind)).toEqual(['o', 'm', 'h']);
    expect(out[0].args).toBe('"e~5",20000');
    expect(out[1].args).toBe('"a/b","6",{"s":1,"t":2},"a/c","7","\\u003c/script\\u003e"');
    expect(out[2].args).toBe('');
    expect(scanner.otherBytes).toBe(preamble.length);
  });
});

describe('parseMessages', () => {
  it('splits flat triplets into deliveries', () => {
    expect(parseMessages('"a/b","6",{"s":1,"t":2},"a/c","7","\\u003c/script\\u003e"')).toEqual([
      { channel: 'a/b', id: '6', data: { s: 1, t: 2 } },
      { channel: 'a/c', id: '7', data: '</script>' },
    ]);
  });

  it('refuses arguments that are not triplets of channel, id, data', () => {
    expect(() => parseMessages('"a","1"')).toThrow(/triplets/);
    expect(() => parseMessages('1,"1",2')).toThrow(/channel and id/);
  });
});
