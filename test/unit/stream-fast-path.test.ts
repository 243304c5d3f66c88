import http from 'node:http';
import { Socket } from 'node:net';
import { resolveConfig } from '../../src/config';
import type { Deps } from '../../src/http/deps';
import type { StreamAdmission, StreamOpener } from '../../src/http/routes/stream';
import { streamFastPath } from '../../src/http/stream-fast-path';

function request(url: string, method = 'GET', headers: Record<string, string> = {}): [http.IncomingMessage, http.ServerResponse] {
  const req = new http.IncomingMessage(new Socket());
  req.method = method;
  req.url = url;
  req.headers = { host: 'localhost', ...headers };
  return [req, new http.ServerResponse(req)];
}

function setup(opener: Partial<StreamOpener>) {
  const errors: unknown[] = [];
  const deps = { config: resolveConfig({}), log: { error: (o: unknown) => errors.push(o) } } as unknown as Deps;
  const toKoa: string[] = [];
  const listener = streamFastPath(deps, opener as StreamOpener, (req) => toKoa.push(req.url as string));
  return { listener, toKoa, errors };
}

describe('streamFastPath', () => {
  it('leaves every request that is not a plain GET of the stream path to the app, untouched', () => {
    const started: string[] = [];
    const { listener, toKoa } = setup({
      admit: () => ({}) as StreamAdmission,
      start: (_a, res) => void started.push(res.req.url as string),
    });
    listener(...request('/pushframe/stream?channels=a'));
    listener(...request('/pushframe/poll?channels=a'));
    listener(...request('/pushframe/streams?channels=a'));
    listener(...request('/pushframe/stream?channels=a', 'HEAD'));
    listener(...request('/pushframe/stream?channels=a', 'GET', { 'content-length': '2' }));
    listener(...request('/pushframe/stream?channels=a#x'));
    expect(started).toEqual(['/pushframe/stream?channels=a']);
    expect(toKoa).toEqual([
      '/pushframe/poll?channels=a',
      '/pushframe/streams?channels=a',
      '/pushframe/stream?channels=a',
      '/pushframe/stream?channels=a',
      '/pushframe/stream?channels=a#x',
    ]);
  });

  it('hands a refused request to the app, and ends (not throws) when starting the stream fails', () => {
    let released = 0;
    const { listener, toKoa, errors } = setup({
      admit: (ex) => {
        if (ex.querystring === 'refuse') throw new Error('refused');
        return { slot: { release: () => void released++ } } as unknown as StreamAdmission;
      },
      start: () => {
        throw new Error('broken');
      },
    });
    listener(...request('/pushframe/stream?refuse'));
    expect(toKoa).toEqual(['/pushframe/stream?refuse']);
    const [req, res] = request('/pushframe/stream?channels=a');
    expect(() => listener(req, res)).not.toThrow();
    expect(released).toBe(1);
    expect(res.destroyed).toBe(true);
    expect(errors).toHaveLength(1);
  });
});
