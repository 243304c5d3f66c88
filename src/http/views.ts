import nunjucks from 'nunjucks';
import { join } from 'node:path';
import { addPushframeFilters } from './embed';

/**
 * The nunjucks environment for pushframe's views. Autoescape is on for HTML; the `js`
 * filter writes a value as script-safe JSON for use inside `<script>`.
 */
export function createViews(root: string): nunjucks.Environment {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(join(root, 'views'), { noCache: false }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  return addPushframeFilters(env);
}
