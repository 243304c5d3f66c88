/**
 * The one thing a transport writes to: an HTTP response body already past its headers
 * (Node's ServerResponse satisfies it). Transports know nothing of Koa.
 */
export interface Sink {
  write(chunk: string): boolean;
  end(chunk?: string): unknown;
  destroy(): unknown;
  readonly writableLength: number;
  readonly destroyed: boolean;
  on(event: 'close' | 'drain', listener: () => void): unknown;
  removeListener(event: 'close' | 'drain', listener: () => void): unknown;
}
