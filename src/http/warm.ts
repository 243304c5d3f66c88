import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type nunjucks from 'nunjucks';

/**
 * Does at start what the first answers after a start would otherwise do in the middle of
 * them. A node that restarts gets all its clients back at once, and its first health check
 * must not wait behind one-time work: Koa's body setter tests every object body (JSON)
 * against the web globals below, and Node loads them (web streams, undici: 30-50 ms) on
 * first use; nunjucks compiles a template, and each one it extends or imports, on first
 * render.
 */
export function warmUp(views: nunjucks.Environment, root: string): void {
  void [globalThis.ReadableStream, globalThis.Blob, globalThis.Response];
  for (const name of readdirSync(join(root, 'views'))) if (name.endsWith('.njk')) views.getTemplate(name, true);
}
