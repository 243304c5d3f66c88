import type http from 'node:http';
import { BodyReader } from './body-reader';

export interface SseEvent {
  /** `message` when the event has no `event:` line. */
  event: string;
  data: string;
  /** The `id:` of this event, if it carried one. */
  id?: string;
}

/**
 * A text/event-stream client over a real socket that parses the wire the way the
 * EventSource spec does (fields, comments, `retry:`, last event id), keeping the raw
 * body so tests can assert bytes too.
 */
export class SseClient extends BodyReader {
  events: SseEvent[] = [];
  comments = 0;
  retries: number[] = [];
  lastEventId = '';
  private rest = '';

  /** With an `agent`, the request may reuse a kept-alive connection. */
  static async open(url: string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<SseClient> {
    const { res, req } = await BodyReader.request(url, headers, agent);
    return new SseClient(res, req, 'utf8');
  }

  get messages(): { channel: string; id: string; data: unknown }[] {
    return this.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data));
  }

  waitForMessages(n: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.messages.length >= n, timeoutMs, `${n} messages (have ${this.messages.length})`);
  }

  waitForEvent(name: string, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.events.some((e) => e.event === name), timeoutMs, `a "${name}" event`);
  }

  protected recent(): string {
    return JSON.stringify(this.events.slice(-5));
  }

  protected onData(chunk: string): void {
    this.rest += chunk;
    let end: number;
    while ((end = this.rest.indexOf('\n\n')) !== -1) {
      const block = this.rest.slice(0, end);
      this.rest = this.rest.slice(end + 2);
      this.onBlock(block);
    }
  }

  private onBlock(block: string): void {
    let event = 'message';
    let data: string[] | null = null;
    let id: string | undefined;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments++;
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') (data ??= []).push(value);
      else if (field === 'id') id = this.lastEventId = value;
      else if (field === 'retry' && /^\d+$/.test(value)) this.retries.push(Number(value));
    }
    // As in EventSource: a block without data dispatches nothing.
    if (data !== null) this.events.push({ event, data: data.join('\n'), id });
  }

}
