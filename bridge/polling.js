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
   * Long-poll over JSONP `<script>` elements: every browser, any origin, and any proxy,
   * since each answer is a complete response. An answer becomes the protocol's
   * callbacks (`o` for the first one, then `x`, `m`, `r`, `e`) and its cursor the
   * connection's; the next poll starts once the answer has been handled. The
   * connection's watchdog covers a poll that never comes back.
   */
  transports.longpoll = {
    polling: true,
    supported: function () {
      return true;
    },
    start: function (stream) {
      var script = null;
      var name = '';
      var stopped = false;
      var first = true;

      function drop(lateCallPossible) {
        if (script) {
          script.onload = script.onerror = script.onreadystatechange = null;
          try { if (script.parentNode) script.parentNode.removeChild(script); } catch (e) { /* gone */ }
          script = null;
        }
        // A removed script may still run: a no-op catches its late call.
        if (name) {
          if (lateCallPossible) pollCallbacks[name] = ignore;
          else delete pollCallbacks[name];
        }
        name = '';
      }

      function failed() {
        drop(true);
        if (!stopped) stream.ended_();
      }

      function answered(a) {
        drop(false);
        if (stopped || stream.dead_) return;
        var sink = stream.sink;
        if (!a || typeof a !== 'object') {
          stream.ended_();
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
        var i;
        if (a.resets && a.resets.length) sink.x.apply(sink, a.resets);
        var list = a.messages;
        if (list && list.length) {
          var flat = [];
          // A fourth element is the data as JSON text (it has a `__proto__` key).
          for (i = 0; i < list.length; i++) flat.push(list[i][0], list[i][1], list[i].length > 3 ? textData(list[i][3]) : list[i][2]);
          sink.m.apply(sink, flat);
        }
        if (stopped || stream.dead_) return; // a handler closed or re-subscribed
        sink.h(); // an empty answer is a sign of life too
        if (a.cursor) stream.conn_.position_(stream, String(a.cursor));
        if (typeof a.reconnect === 'number') {
          sink.r(a.reconnect);
          return;
        }
        window.setTimeout(poll, 0);
      }

      function poll() {
        if (stopped || stream.dead_) return;
        var id = stream.id + '_' + (++pollSeq);
        var done = false;
        name = id;
        pollCallbacks[id] = function (answer) {
          done = true;
          answered(answer);
        };
        var el = pollScript(stream.conn_);
        // onload runs after the script: one that did not call back failed (a proxy's
        // error page, a truncated body). Old IE reports the same through readyState.
        el.onload = el.onerror = function () {
          if (el === script && !done) failed();
        };
        el.onreadystatechange = function () {
          if (el === script && !done && /^(loaded|complete)$/.test(el.readyState)) failed();
        };
        // The first poll of an attempt is answered at once (with any backlog): it is
        // the attempt's open, which the open deadline watches.
        el.src = stream.endpoint('poll', (first ? '&open=1' : '') + pollQuery(stream.conn_, id));
        script = el;
        scriptParent().appendChild(el);
      }

      poll();
      return {
        stop: function () {
          stopped = true;
          drop(true);
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
      var es = new window.EventSource(stream.endpoint('events', ''));
      var sink = stream.sink;
      function data(ev) {
        try { return parseJson(ev.data); } catch (e) { return null; }
      }
      es.addEventListener('ready', function (ev) {
        var d = data(ev);
        if (d) sink.o(String(d.cursor), Number(d.heartbeatMs));
      }, false);
      es.addEventListener('reset', function (ev) {
        var d = data(ev);
        if (isArray(d)) sink.x.apply(sink, d);
      }, false);
      es.addEventListener('checkpoint', function (ev) {
        var d = data(ev);
        if (d) sink.c(String(d.cursor));
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
        stream.ended_();
      };
      // Heartbeats are comments, which script cannot see: an open EventSource is alive.
      var beat = window.setInterval(function () {
        if (es && es.readyState === 1) sink.h();
      }, 1000);
      return {
        stop: function () {
          window.clearInterval(beat);
          if (es) {
            es.onmessage = es.onerror = null;
            es.close();
          }
          es = null;
        }
      };
    }
  };
