import type { IncomingMessage } from 'node:http';
import { PushframeError } from '../errors';

/**
 * Reads a request body as UTF-8 text, refusing it past `limit` bytes or when it has not
 * fully arrived within `timeoutMs` (Node's own request timeout is off for the streams'
 * sake, so a body trickled byte by byte would otherwise hold its socket forever).
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new PushframeError('body_too_large', `The body is ${declared} bytes; the maximum is ${limit}.`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const timer = setTimeout(() => {
      req.pause();
      finish(new PushframeError('request_timeout', `The body did not arrive within ${timeoutMs} ms.`));
    }, timeoutMs);
    const finish = (err: Error | null, text?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      if (err) reject(err);
      else resolve(text as string);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the error answer closes the connection.
        req.pause();
        finish(new PushframeError('body_too_large', `The body is larger than ${limit} bytes.`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(null, Buffer.concat(chunks).toString('utf8'));
    const onError = (err: Error): void => finish(new PushframeError('bad_request', 'The request body could not be read: ' + err.message));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
