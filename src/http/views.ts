import nunjucks from 'nunjucks';
import { join } from 'node:path';
import { scriptJson } from '../protocol';

/**
 * The nunjucks environment for pushframe's views. Autoescape is on for HTML; the `js`
 * filter writes a value as script-safe JSON for use inside `<script>`.
 */
export function createViews(root: string): nunjucks.Environment {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(join(root, 'views'), { noCache: false }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  env.addFilter('js', (value: unknown) => new nunjucks.runtime.SafeString(scriptJson(value)));
  return env;
}
