import { PushframeError } from '../errors';

/** A CSP nonce as the spec's base64-value; 16+ characters so it carries real entropy. */
const NONCE = /^[A-Za-z0-9+/_-]{16,128}={0,2}$/;

export function parseNonce(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!NONCE.test(text)) throw new PushframeError('bad_request', 'The "nonce" parameter is 16-128 base64 characters.');
  return text;
}

/**
 * The stream document's own Content-Security-Policy. The embedding page's policy does not
 * reach into the iframe (a document with its own response has its own policy), so the
 * stream needs no nonce to work under a strict page. With `nonce=` the stream locks itself
 * down: only scripts carrying that nonce run, so even a payload that escaped its escaping
 * could not execute; a proxy that enforces a fixed-nonce policy site-wide is satisfied too.
 */
export function streamPolicy(framing: string, nonce: string | undefined): string {
  if (nonce === undefined) return framing;
  return `default-src 'none'; script-src 'nonce-${nonce}'; base-uri 'none'; form-action 'none'; ${framing}`;
}
