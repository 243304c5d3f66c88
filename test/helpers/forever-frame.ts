import http from 'node:http';

/** One frame of a forever-frame stream: the letter of `p.X(...)` and its arguments. */
export interface Frame {
  kind: string;
  args: unknown[];
}

export interface StreamReader {
  readonly res: http.IncomingMessage;
  /** Frames parsed so far, in order. */
  readonly frames: Frame[];
  /** Every delivered message so far, flattened from the `p.m` triplets. */
  messages(): { channel: string; id: string; data: unknown }[];
  /** Resolves once `test` holds, checking after every chunk; rejects after `timeoutMs`. */
  until(test: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): void;
}

const FRAME = /<script>p\.([a-z])\(([\s\S]*?)\)<\/script>/g;

/**
 * Opens `GET {base}/stream?...` over a real socket and parses frames as they arrive.
 * Payloads are script-safe JSON, so a frame's arguments parse as a JSON array.
 */
export function openStream(base: string, query: Record<string, string>): Promise<StreamReader> {
  const url = base + '/stream?' + new URLSearchParams(query).toString();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`stream answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      const frames: Frame[] = [];
      // Chunks since the last complete frame; joined only when a frame may have ended
      // (one frame can span megabytes, and re-scanning a growing string is quadratic).
      let parts: string[] = [];
      let tail = '';
      const waiters = new Set<() => void>();
      res.on('data', (chunk: string) => {
        const seam = tail + chunk.slice(0, 9);
        const ended = seam.indexOf('</script>') !== -1 || chunk.indexOf('</script>') !== -1;
        parts.push(chunk);
        tail = (tail + chunk).slice(-8);
        if (!ended) return;
        const buffer = parts.join('');
        let consumed = 0;
        FRAME.lastIndex = 0;
        let m: RegExpExecArray | null;
        while ((m = FRAME.exec(buffer)) !== null) {
          frames.push({ kind: m[1], args: JSON.parse('[' + m[2] + ']') as unknown[] });
          consumed = FRAME.lastIndex;
        }
        parts = consumed === buffer.length ? [] : [buffer.slice(consumed)];
        for (const w of [...waiters]) w();
      });
      const reader: StreamReader = {
        res,
        frames,
        messages() {
          const out: { channel: string; id: string; data: unknown }[] = [];
          for (const f of frames) {
            if (f.kind !== 'm') continue;
            for (let i = 0; i + 2 < f.args.length; i += 3) {
              out.push({ channel: f.args[i] as string, id: f.args[i + 1] as string, data: f.args[i + 2] });
            }
          }
          return out;
        },
        until(test, timeoutMs = 5000, what = 'condition') {
          return new Promise<void>((ok, fail) => {
            if (test()) return ok();
            const check = (): void => {
              if (!test()) return;
              cleanup();
              ok();
            };
            const timer = setTimeout(() => {
              cleanup();
              fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
            }, timeoutMs);
            const cleanup = (): void => {
              clearTimeout(timer);
              waiters.delete(check);
            };
            waiters.add(check);
          });
        },
        close() {
          req.destroy();
        },
      };
      resolve(reader);
    });
    req.on('error', reject);
  });
}
