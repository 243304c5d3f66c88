  // ---------------------------------------------------------------- long-poll and SSE

  var pollSeq = 0;
  /** JSONP callbacks of pending polls: the server calls `Pushframe._poll.<name>(answer)`. */
  var pollCallbacks = {};

  function ignore() {}

  function scriptParent() {
    return document.getElementsByTagName('head')[0] || document.documentElement;
  }

  /**
   * The query of a JSONP poll: its callback and, when the server is another origin, the
   * page's, which the server checks against its allowlist and the browser's Referer.
   */
  function pollQuery(conn, name) {
    var q = '&callback=Pushframe._poll.' + name;
    if (conn.origin !== pageOrigin()) q += '&origin=' + encodeURIComponent(pageOrigin());
    return q;
  }

  /** A script element for a poll: it sends the page's origin as Referer even when the
   * page's own policy sends none, so the server can tell an allowed page from another,
   * and carries the page's CSP nonce when it has one. */
  function pollScript(conn) {
    var el = document.createElement('script');
    el.type = 'text/javascript';
    el.charset = 'utf-8';
    el.async = true;
    try { el.referrerPolicy = 'origin'; } catch (e) { /* not known here */ }
    if (conn.nonce) {
      el.setAttribute('nonce', conn.nonce);
      try { el.nonce = conn.nonce; } catch (e2) { /* a property in no engine known to refuse it */ }
    }
    return el;
  }

  /**
   * One JSONP poll to `url`, whose script calls `Pushframe._poll.<name>`: `answered(a)`
   * when it calls back, `failed()` when the script loaded (or failed to) without calling
   * back (a proxy's error page, a truncated body; old IE says so through readyState).
   * Returns `drop()`, which removes the element; a script that may still run then finds
   * a no-op under its name.
   */
  function jsonp(conn, name, url, answered, failed) {
    var el = pollScript(conn);
    function drop() {
      if (!el) return;
      el.onload = el.onerror = el.onreadystatechange = null;
      try { if (el.parentNode) el.parentNode.removeChild(el); } catch (e) { /* gone */ }
      el = null;
      pollCallbacks[name] = ignore;
    }
    // onload runs after the script: one that did not call back failed.
    function loaded() {
      if (!el) return;
      drop();
      failed();
    }
    pollCallbacks[name] = function (a) {
      drop();
      delete pollCallbacks[name]; // it ran: no late call to catch
      answered(a);
    };
    el.onload = el.onerror = loaded;
    el.onreadystatechange = function () {
      if (el && /^(loaded|complete)$/.test(el.readyState)) loaded();
    };
    el.src = url;
    scriptParent().appendChild(el);
    return drop;
  }

  /** The data of a poll answer's message entry; a fourth element is it as JSON text (it has a `__proto__` key). */
  function entryData(m) {
    return m.length > 3 ? textData(m[3]) : m[2];
  }

  /**
   * Long-poll over JSONP `<script>` elements: every browser, any origin, and any proxy,
   * since each answer is a complete response. An answer becomes the protocol's
   * callbacks (`o` for the first one, then `x`, `m`, `r`, `e`) and its cursor the
   * connection's; the next poll starts as soon as the answer has been handled. The
   * connection's watchdog covers a poll that never comes back.
   */
  transports.longpoll = {
    polling: true,
    supported: function () {
      return true;
    },
    start: function (stream) {
      var drop = null;
      var stopped = false;
      var first = true;

      function answered(a) {
        drop = null;
        if (stopped || stream.dead_) return;
        var sink = stream.sink;
        if (!a || typeof a !== 'object') {
          stream.ended();
          return;
        }
        if (a.error) {
          sink.e(String(a.error.code), String(a.error.message));
          return;
        }
        if (first && a.cursor) {
          first = false;
          sink.o(String(a.cursor), Number(a.timeoutMs) || 0);
        }
        if (a.resets && a.resets.length) sink.x.apply(sink, a.resets);
        var list = a.messages;
        if (list && list.length) {
          var flat = [];
          for (var i = 0; i < list.length; i++) flat.push(list[i][0], list[i][1], entryData(list[i]));
          sink.m.apply(sink, flat);
        }
        if (stopped || stream.dead_) return; // a handler closed or re-subscribed
        sink.h(); // an empty answer is a sign of life too
        if (a.cursor) stream.conn_.position_(stream, String(a.cursor));
        if (typeof a.reconnect === 'number') {
          sink.r(a.reconnect);
          return;
        }
        // At once, not after a timer: browsers hold a background tab's timers to one a
        // second, and a leader tab in the background polls for every tab of the page.
        poll();
      }

      function poll() {
        if (stopped || stream.dead_) return;
        var id = stream.id + '_' + (++pollSeq);
        // The first poll of an attempt is answered at once (with any backlog): it is
        // the attempt's open, which the open deadline watches. It names the stream the
        // connection gave up on, if any (a dead stream path is why it polls).
        var open = first ? '&open=1' + stream.replacing() : '';
        drop = jsonp(stream.conn_, id, stream.endpoint('poll', open + pollQuery(stream.conn_, id)), answered, function () {
          drop = null;
          if (!stopped) stream.ended();
        });
      }

      poll();
      return {
        stop: function () {
          stopped = true;
          if (drop) drop();
        }
      };
    }
  };

  /**
   * Server-sent events, for browsers with EventSource (opt-in: `transports: ['sse', ...]`).
   * The bridge reconnects itself, with its cursor; EventSource's own retry is cut short.
   */
  transports.sse = {
    supported: function () {
      return !!window.EventSource;
    },
    start: function (stream) {
      var es = new window.EventSource(stream.endpoint('events', stream.replacing()));
      var sink = stream.sink;
      function data(ev) {
        try { return parseJson(ev.data); } catch (e) { return null; }
      }
      es.addEventListener('ready', function (ev) {
        var d = data(ev);
        if (d) sink.o(String(d.cursor), Number(d.heartbeatMs), d.stream);
      }, false);
      es.addEventListener('reset', function (ev) {
        var d = data(ev);
        if (isArray(d)) sink.x.apply(sink, d);
      }, false);
      es.addEventListener('checkpoint', function (ev) {
        var d = data(ev);
        if (d) sink.c(String(d.cursor));
      }, false);
      // The server's heartbeats are events: script sees them, so the watchdog notices a
      // path that died under an EventSource the browser still holds open.
      es.addEventListener('heartbeat', function () {
        sink.h();
      }, false);
      es.addEventListener('reconnect', function (ev) {
        sink.r(Number(ev.data));
      }, false);
      es.addEventListener('fail', function (ev) {
        var d = data(ev) || {};
        sink.e(String(d.code), String(d.message));
      }, false);
      es.onmessage = function (ev) {
        var d = data(ev);
        if (d) sink.m(d.channel, d.id, d.data);
      };
      es.onerror = function () {
        stream.ended();
      };
      return {
        stop: function () {
          if (es) {
            es.onmessage = es.onerror = null;
            es.close();
          }
          es = null;
        }
      };
    }
  };
