import type http from 'node:http';
import { BodyReader } from './body-reader';

export interface Frame {
  type: string;
  args: unknown[];
}

export interface Received {
  channel: string;
  id: string;
  data: unknown;
}

/**
 * A forever-frame client over a real socket: reads the raw body, splits it into
 * `<script>p.X(...)</script>` frames and keeps a resume cursor the way the bridge does.
 * Splitting on `</script>` is safe because no payload can contain `<`.
 */
export class StreamClient extends BodyReader {
  preamble = '';
  frames: Frame[] = [];
  messages: Received[] = [];
  cursor = '';
  private rest = '';

  /** With an `agent`, the stream may reuse a kept-alive connection (one to a chosen cluster worker). */
  static async open(url: string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<StreamClient> {
    const { res, req } = await BodyReader.request(url, headers, agent);
    return new StreamClient(res, req, 'latin1');
  }

  waitForMessages(n: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.messages.length >= n, timeoutMs, `${n} messages (have ${this.messages.length})`);
  }

  waitForFrame(type: string, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.frames.some((f) => f.type === type), timeoutMs, `a p.${type} frame`);
  }

  protected recent(): string {
    return JSON.stringify(this.frames.slice(-5));
  }

  protected onData(chunk: string): void {
    this.rest += chunk;
    if (!this.preamble) {
      const start = this.rest.indexOf('<script>p.');
      if (start === -1) return;
      this.preamble = this.rest.slice(0, start);
      this.rest = this.rest.slice(start);
    }
    let end: number;
    while ((end = this.rest.indexOf('</script>')) !== -1) {
      const text = this.rest.slice(0, end);
      this.rest = this.rest.slice(end + '</script>'.length);
      const m = /^<script>p\.([a-z])\(([\s\S]*)\)$/.exec(text);
      if (!m) throw new Error('malformed frame: ' + text.slice(0, 200));
      this.onFrame({ type: m[1], args: JSON.parse('[' + m[2] + ']') as unknown[] });
    }
  }

  private onFrame(frame: Frame): void {
    this.frames.push(frame);
    if (frame.type === 'o' || frame.type === 'c') this.cursor = frame.args[0] as string;
    if (frame.type !== 'm' && frame.type !== 'j') return;
    for (let i = 0; i < frame.args.length; i += 3) {
      const [channel, id, raw] = frame.args.slice(i, i + 3) as [string, string, unknown];
      // p.j carries the data as JSON text.
      const data = frame.type === 'j' ? (JSON.parse(raw as string) as unknown) : raw;
      this.messages.push({ channel, id, data });
      this.cursor = withEntry(this.cursor, channel, id);
    }
  }

}

/** Sets `channel@id` in a cursor string, as the bridge does (ids stay opaque). */
export function withEntry(cursor: string, channel: string, id: string): string {
  const parts = cursor.split(',');
  const kept = parts.filter((p, i) => i === 0 || p.slice(0, p.lastIndexOf('@')) !== channel);
  kept.push(channel + '@' + id);
  return kept.join(',');
}
