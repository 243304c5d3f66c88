/*!
 * pushframe bridge, protocol version 1 (docs/protocol.md, docs/bridge.md).
 *
 * Plain ES3: runs unchanged in IE6+ and every modern browser. One IIFE, one global
 * (`Pushframe`), feature detection only. Turns the server's forever-frame callbacks
 * into connection callbacks and DOM events.
 */
(function (window) {
  var document = window.document;

  // Loaded twice: the first copy owns the live frames, so it stays.
  if (window.Pushframe && window.Pushframe.version) return;

  var VERSION = 1;
  var EVENT_PREFIX = 'pushframe:';
  var WIRE_PREFIX = 'pushframe|';
  var LIFECYCLE = { open: 1, message: 1, reset: 1, transport: 1, error: 1, close: 1 };
  // Split so that filters scanning scripts for the word do not trip (as SockJS does).
  var AXO = ['Active', 'Object'].join('X');

  var DEFAULTS = {
    url: '/pushframe',
    transports: ['htmlfile', 'iframe', 'longpoll'],
    // A stream is stalled after the interval the server announced (its heartbeat, or how
    // long it holds a poll) plus this much silence: the server never stays silent longer
    // than its interval, and the grace absorbs network and timer jitter. With the
    // server's 4 s heartbeat a dead stream is noticed within 6 s (docs/bridge.md).
    stallGraceMs: 2000,
    // Used until p.o announces the server's interval.
    heartbeatMs: 4000,
    // No p.o within this long: the path is dead or a proxy buffers the stream. Usually
    // decided much sooner: see pathCheckMs.
    openTimeoutMs: 10000,
    // A stream not yet proven on this connection starts with one poll beside it, answered
    // at once. When that complete answer arrives and the stream's first frame has not
    // followed within max(pathCheckMs, 2x the poll's time), something on the path holds
    // streams back (a buffering proxy): fall to long-poll then, not after openTimeoutMs.
    // A slow but unbuffered link is slow for the poll as well and gets longer.
    pathCheckMs: 1000,
    backoffMinMs: 1000,
    backoffMaxMs: 30000,
    // Failed attempts (none of which opened) before trying the next transport.
    fallbackAfter: 2,
    // After falling back to polling, try streaming again this long later (doubling
    // after each failed probe up to reprobeMaxMs): networks and proxies change.
    reprobeMs: 60000,
    reprobeMaxMs: 1800000
  };

  // How long posted callbacks of a cross-origin frame may trail its load event.
  var POSTED_GRACE_MS = 500;

  // The pulse: how often the page looks at its streams (a same-origin frame whose
  // document stopped loading has ended, even without a load event), and the gap between
  // two pulses that means timers were stopped: the machine slept (or a hidden tab was
  // throttled, which the checks tolerate).
  var PULSE_MS = 1000;
  var WAKE_GAP_MS = 3000;

  // Error codes after which retrying cannot help (src/errors.ts).
  var FATAL = {
    bad_request: 1, bad_channel: 1, bad_pattern: 1, bad_origin: 1, bad_grant: 1,
    too_many_channels: 1, unauthorized: 1, not_found: 1, header_too_large: 1, unknown_host: 1
  };

  var hasOwn = Object.prototype.hasOwnProperty;
  var toStr = Object.prototype.toString;

  var frameSeq = 0;
  var frames = {};        // frame id -> Stream, for every live stream
  var connections = [];   // live connections (also keeps htmlfile hosts referenced)
  var registry = [];      // legacy DOM-event listeners: { node, type, fn }
  var pageLoaded = false; // the page's load event has passed (see pageReady)
  var hooked = false;     // page-level listeners installed
  var pulseTimer = null;
  var pulseAt = 0;

  // The nonce of the script element that loaded the bridge, for the elements it
  // creates when a page with a nonce-based CSP passes none to connect().
  var ownNonce = '';
  try {
    var current = document.currentScript;
    if (current) ownNonce = current.nonce || current.getAttribute('nonce') || '';
  } catch (e0) { /* no currentScript (old IE) */ }

  // ---------------------------------------------------------------- ES3 helpers

  function now() {
    return new Date().getTime();
  }

  function indexOf(list, item) {
    for (var i = 0; i < list.length; i++) if (list[i] === item) return i;
    return -1;
  }

  function isArray(v) {
    return toStr.call(v) === '[object Array]';
  }

  function option(options, name) {
    return options && options[name] !== undefined && options[name] !== null ? options[name] : DEFAULTS[name];
  }

  // A number option that is not a positive number falls back to its default: a NaN
  // delay would reconnect in a tight loop.
  function positive(options, name) {
    var v = Number(option(options, name));
    return v > 0 && v < 1e10 ? v : DEFAULTS[name];
  }

  // Rethrow outside our call stack: one broken handler must not cost others a message.
  function report(err) {
    window.setTimeout(function () { throw err; }, 0);
  }

  /**
   * Values created inside a frame belong to that frame's realm: old IE throws "Can't
   * execute code from a freed script" once the frame is gone, and `instanceof Array`
   * fails everywhere. A copy made here belongs to the page.
   */
  function adopt(v, depth) {
    if (v === null || typeof v !== 'object') return v;
    if (depth > 200) return null;
    var out, k, i;
    if (isArray(v)) {
      out = [];
      for (i = 0; i < v.length; i++) out[i] = adopt(v[i], depth + 1);
      return out;
    }
    out = {};
    for (k in v) if (hasOwn.call(v, k)) setOwn(out, k, adopt(v[k], depth + 1));
    return out;
  }

  // `o.__proto__ = x` would set the prototype where the engine has that accessor: a
  // `__proto__` key of the data must stay an ordinary property.
  function setOwn(o, k, value) {
    if (k === '__proto__' && Object.defineProperty) {
      Object.defineProperty(o, k, { value: value, writable: true, enumerable: true, configurable: true });
    } else {
      o[k] = value;
    }
  }

  // Data sent as JSON text; unreadable text becomes null rather than a thrown frame.
  function textData(text) {
    try { return parseJson(String(text)); } catch (e) { return null; }
  }

  // JSON.parse where it exists (IE8+ standards mode); else the RFC 4627 check, then eval.
  function parseJson(text) {
    if (window.JSON && typeof window.JSON.parse === 'function') return window.JSON.parse(text);
    var stripped = text
      .replace(/\\(?:["\\\/bfnrt]|u[0-9a-fA-F]{4})/g, '@')
      .replace(/"[^"\\\n\r]*"|true|false|null|-?\d+(?:\.\d*)?(?:[eE][+\-]?\d+)?/g, ']')
      .replace(/(?:^|:|,)(?:\s*\[)+/g, '');
    if (!/^[\],:{}\s]*$/.test(stripped)) throw new SyntaxError('pushframe: bad JSON');
    return (new Function('return (' + text + ');'))();
  }

  function byId(target) {
    if (typeof target === 'string') return document.getElementById(target);
    return target;
  }

  function addListener(node, type, fn) {
    if (node.addEventListener) node.addEventListener(type, fn, false);
    else if (node.attachEvent) node.attachEvent('on' + type, fn);
  }

  function removeListener(node, type, fn) {
    if (node.removeEventListener) node.removeEventListener(type, fn, false);
    else if (node.detachEvent) node.detachEvent('on' + type, fn);
  }

  // ---------------------------------------------------------------- origins

  function normalOrigin(protocol, host) {
    protocol = protocol.toLowerCase();
    host = host.toLowerCase();
    host = host.substring(host.lastIndexOf('@') + 1);
    if ((protocol === 'http:' && /:80$/.test(host)) || (protocol === 'https:' && /:443$/.test(host))) {
      host = host.substring(0, host.lastIndexOf(':'));
    }
    return protocol + '//' + host;
  }

  function pageOrigin() {
    return normalOrigin(window.location.protocol, window.location.host);
  }

  /** The origin of an absolute or protocol-relative URL; the page's for a relative one. */
  function originOf(url) {
    var m = /^([a-zA-Z][a-zA-Z0-9+.\-]*:)?\/\/([^\/?#]*)/.exec(url);
    if (!m) return pageOrigin();
    return normalOrigin(m[1] || window.location.protocol, m[2]);
  }

  // ---------------------------------------------------------------- DOM events

  function createEvent(type, detail) {
    var ev;
    try {
      if (typeof window.CustomEvent === 'function') {
        return new window.CustomEvent(type, { detail: detail, bubbles: true, cancelable: false });
      }
    } catch (e1) { /* IE9-11: CustomEvent is an object, not a constructor */ }
    try {
      ev = document.createEvent('CustomEvent');
      ev.initCustomEvent(type, true, false, detail);
      return ev;
    } catch (e2) { /* no CustomEvent at all */ }
    try {
      ev = document.createEvent('Event');
      ev.initEvent(type, true, false);
      ev.detail = detail;
      return ev;
    } catch (e3) { /* no DOM events */ }
    return null;
  }

  /** Legacy path: call registered listeners from the target up to document and window. */
  function fireRegistry(target, type, detail) {
    var ev = { type: type, detail: detail, target: target, srcElement: target };
    var node = target;
    var chain = [];
    while (node) {
      chain.push(node);
      node = node === document ? window : (node === window ? null : node.parentNode || (node.nodeType === 9 ? window : null));
    }
    var list = registry.slice(0);
    for (var c = 0; c < chain.length; c++) {
      ev.currentTarget = chain[c];
      for (var i = 0; i < list.length; i++) {
        var l = list[i];
        if (l.node === chain[c] && l.type === type && indexOf(registry, l) !== -1) {
          try { l.fn.call(chain[c], ev); } catch (err) { report(err); }
        }
      }
    }
  }

  function dispatch(target, type, detail) {
    if (target.dispatchEvent) {
      var ev = createEvent(type, detail);
      if (ev) {
        target.dispatchEvent(ev);
        return;
      }
    }
    fireRegistry(target, type, detail);
  }

  /** Listens for pushframe DOM events in every browser: a real listener where the DOM
   * has dispatchEvent, the bridge's own registry where it does not (IE6-8). */
  function listen(target, type, fn) {
    target = byId(target);
    if (!target || typeof fn !== 'function') return;
    if (target.dispatchEvent && target.addEventListener) target.addEventListener(type, fn, false);
    else registry.push({ node: target, type: type, fn: fn });
  }

  function unlisten(target, type, fn) {
    target = byId(target);
    if (!target) return;
    if (target.dispatchEvent && target.removeEventListener) {
      target.removeEventListener(type, fn, false);
      return;
    }
    for (var i = registry.length - 1; i >= 0; i--) {
      var l = registry[i];
      if (l.node === target && l.type === type && l.fn === fn) registry.splice(i, 1);
    }
  }

  // ---------------------------------------------------------------- page lifecycle

  /**
   * Has the page's load event passed? Asked whenever a stream is about to start, never
   * remembered from when the file ran: the bridge may run before load and connect() be
   * called long after it. `complete` is set just before load is dispatched, in the same
   * task, so a stream started on a timer from then on comes after load. An engine that
   * has no readyState cannot tell, so it does not wait.
   */
  function pageReady() {
    if (!pageLoaded) {
      var state;
      try { state = document.readyState; } catch (e) { /* treat as unknown */ }
      if (state === 'complete' || typeof state !== 'string') pageLoaded = true;
    }
    return pageLoaded;
  }

  function onPageLoad() {
    pageLoaded = true;
    removeListener(window, 'load', onPageLoad);
    var list = connections.slice(0);
    for (var i = 0; i < list.length; i++) {
      if (!list[i].stream && !list[i].timer && list[i].state === 'connecting') list[i]._schedule(0);
    }
  }

  // Installed while the file runs, before any connect(), and kept until load: a
  // connection made before load waits for it; one made after it starts at once.
  if (!pageReady()) addListener(window, 'load', onPageLoad);

  // Leaving the page closes every connection; a page kept in the back-forward cache
  // (pagehide with persisted) only drops its streams and resumes them on pageshow.
  function onPageHide(ev) {
    ev = ev || window.event;
    var keep = !!(ev && ev.persisted);
    var list = connections.slice(0);
    for (var i = 0; i < list.length; i++) {
      if (keep) list[i]._suspend();
      else list[i].close();
    }
    // A page in the back-forward cache keeps no timer running.
    if (keep) stopPulse();
  }

  function onPageShow(ev) {
    if (!ev || !ev.persisted) return;
    if (hooked) startPulse();
    var list = connections.slice(0);
    for (var i = 0; i < list.length; i++) if (list[i].state === 'suspended') list[i]._schedule(0);
  }

  function checkAll(why, detail) {
    var list = connections.slice(0);
    for (var i = 0; i < list.length; i++) list[i]._check(why, detail);
  }

  // Back online: whatever stream was open went over the old network path.
  function onOnline() {
    checkAll('online', 0);
  }

  function onVisibility() {
    var hidden = false;
    try { hidden = document.hidden || document.visibilityState === 'hidden'; } catch (e) { /* no API */ }
    if (!hidden) checkAll('visible', 0);
  }

  /** Timers do not run while the machine sleeps: a late pulse means it woke up. */
  function pulse() {
    var t = now();
    var gap = t - pulseAt;
    pulseAt = t;
    checkAll(gap > PULSE_MS + WAKE_GAP_MS ? 'wake' : 'pulse', gap);
  }

  var hideEvent = 'onpagehide' in window ? 'pagehide' : 'unload';

  function hook() {
    if (hooked) return;
    hooked = true;
    addListener(window, hideEvent, onPageHide);
    if (hideEvent === 'pagehide') addListener(window, 'pageshow', onPageShow);
    addListener(window, 'message', onPostMessage);
    addListener(window, 'online', onOnline);
    addListener(document, 'visibilitychange', onVisibility);
    startPulse();
  }

  function startPulse() {
    if (pulseTimer) return;
    pulseAt = now();
    pulseTimer = window.setInterval(pulse, PULSE_MS);
  }

  function stopPulse() {
    if (pulseTimer) window.clearInterval(pulseTimer);
    pulseTimer = null;
  }

  function unhook() {
    if (!hooked || connections.length) return;
    hooked = false;
    removeListener(window, hideEvent, onPageHide);
    if (hideEvent === 'pagehide') removeListener(window, 'pageshow', onPageShow);
    removeListener(window, 'message', onPostMessage);
    removeListener(window, 'online', onOnline);
    removeListener(document, 'visibilitychange', onVisibility);
    stopPulse();
  }

  // ---------------------------------------------------------------- cross-origin frames

  /** `pushframe|<frame>|<letter>|<JSON array>` from a stream on another origin. */
  function onPostMessage(ev) {
    ev = ev || window.event;
    var data = ev && ev.data;
    if (typeof data !== 'string' || data.substring(0, WIRE_PREFIX.length) !== WIRE_PREFIX) return;
    var rest = data.substring(WIRE_PREFIX.length);
    var bar = rest.indexOf('|');
    if (bar < 1 || rest.charAt(bar + 2) !== '|') return;
    var id = rest.substring(0, bar);
    var letter = rest.charAt(bar + 1);
    var stream = hasOwn.call(frames, id) ? frames[id] : null;
    // The origin must be the stream's exactly; the frame id must be the live one.
    if (!stream || !stream.cross || stream.origin !== ev.origin) return;
    var win = stream.contentWindow();
    if (ev.source && win && ev.source !== win) return;
    var sink = stream.sink;
    if (!hasOwn.call(sink, letter)) return;
    var args;
    try { args = parseJson(rest.substring(bar + 3)); } catch (e) { return; }
    if (!isArray(args)) return;
    sink[letter].apply(sink, args);
  }

  // ---------------------------------------------------------------- transports

  /**
   * Transports by name. Each has `supported(connection)` and `start(stream)`, which
   * returns a handle with `stop()` (and optionally `contentWindow()`). A transport
   * delivers by calling the stream's sink (`stream.sink.o/m/x/h/r/e`, the protocol's
   * callbacks), and reports an end with `stream.ended(refusal)` (refusal: the server's
   * `{ code, message }` when it could read one, else null). Adding a transport
   * is one entry here plus its name in the ladder (`DEFAULTS.transports`). A transport
   * with `polling: true` works through proxies that buffer responses; the ladder falls
   * to it when a stream shows nothing at all, and probes the streams again later.
   */
  var transports = {};

  function hideFrame(iframe) {
    var s = iframe.style;
    s.position = 'absolute';
    s.left = s.top = '-9999px';
    s.width = s.height = '1px';
    s.border = '0';
    s.visibility = 'hidden';
    iframe.setAttribute('tabIndex', '-1');
    iframe.setAttribute('aria-hidden', 'true');
    iframe.setAttribute('title', 'pushframe');
  }

  /**
   * A stream refused before its first byte is a JSON error document
   * (`{"error":{"code","message"}}`). A same-origin frame can read it, so the page
   * learns why (and stops for good on errors retrying cannot fix).
   */
  function refusal(iframe) {
    try {
      var doc = iframe.contentWindow.document;
      var pre = doc.getElementsByTagName('pre')[0] || doc.body;
      var text = pre ? pre.textContent || pre.innerText || '' : '';
      if (text.charAt(0) !== '{') return null;
      var err = parseJson(text).error;
      if (err && typeof err.code === 'string') return { code: err.code, message: String(err.message || '') };
    } catch (e) { /* cross-origin, or not an error document */ }
    return null;
  }

  function frameHandle(iframe, stream, onGone) {
    function onLoad() { stream.ended(stream.cross ? null : refusal(iframe)); }
    addListener(iframe, 'load', onLoad);
    return {
      iframe: iframe,
      /**
       * A same-origin stream document that is no longer `loading` has been cut: Firefox
       * moves it to `interactive` without a load event. Only the stream's own document
       * counts (its URL carries the frame id), not the blank one before it.
       */
      finished: function () {
        if (stream.cross) return false;
        try {
          var doc = iframe.contentWindow.document;
          return String(doc.URL).indexOf('f=' + stream.id) !== -1 && doc.readyState !== 'loading';
        } catch (e) {
          return false;
        }
      },
      contentWindow: function () {
        try { return iframe && iframe.contentWindow; } catch (e) { return null; }
      },
      stop: function () {
        if (!iframe) return;
        removeListener(iframe, 'load', onLoad);
        // Navigating away first makes old IE abort the request at once.
        try { iframe.src = 'about:blank'; } catch (e1) { /* already gone */ }
        try { if (iframe.parentNode) iframe.parentNode.removeChild(iframe); } catch (e2) { /* already gone */ }
        iframe = null;
        if (onGone) onGone();
      }
    };
  }

  /** A hidden forever frame in the page. */
  transports.iframe = {
    supported: function (conn) {
      return !conn.cross || !!window.postMessage;
    },
    start: function (stream) {
      var iframe = document.createElement('iframe');
      hideFrame(iframe);
      iframe.src = stream.url('iframe');
      var handle = frameHandle(iframe, stream, null);
      (document.body || document.documentElement).appendChild(iframe);
      return handle;
    }
  };

  /**
   * IE: the forever frame inside an `htmlfile` ActiveX document, which shows no
   * loading indicator and plays no navigation click. The stream's `parent` is the
   * htmlfile's window, so Pushframe is published there. The document is held by the
   * handle (the connection keeps it): a collected htmlfile silently drops the stream.
   */
  transports.htmlfile = {
    supported: function (conn) {
      // `in`, not truthiness: IE11 hides ActiveXObject from boolean tests.
      return !conn.cross && AXO in window;
    },
    start: function (stream) {
      var Host = window[AXO];
      var doc = new Host('htmlfile');
      var domain = stream.conn.documentDomain;
      doc.open();
      doc.write('<html><head>' +
        (domain ? '<script>document.domain="' + domain + '";<\/script>' : '') +
        '</head><body></body></html>');
      doc.close();
      doc.parentWindow.Pushframe = Pushframe;
      var iframe = doc.createElement('iframe');
      iframe.src = stream.url('htmlfile');
      var handle = frameHandle(iframe, stream, function () {
        try { doc.parentWindow.Pushframe = null; } catch (e) { /* host gone */ }
        handle.doc = doc = null;
        if (typeof CollectGarbage === 'function') CollectGarbage();
      });
      handle.doc = doc;
      doc.body.appendChild(iframe);
      return handle;
    }
  };


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
        if (!stopped) stream.ended();
      }

      function answered(a) {
        drop(false);
        if (stopped || stream.dead) return;
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
        var i;
        if (a.resets && a.resets.length) sink.x.apply(sink, a.resets);
        var list = a.messages;
        if (list && list.length) {
          var flat = [];
          // A fourth element is the data as JSON text (it has a `__proto__` key).
          for (i = 0; i < list.length; i++) flat.push(list[i][0], list[i][1], list[i].length > 3 ? textData(list[i][3]) : list[i][2]);
          sink.m.apply(sink, flat);
        }
        if (stopped || stream.dead) return; // a handler closed or re-subscribed
        sink.h(); // an empty answer is a sign of life too
        if (a.cursor) stream.conn._position(stream, String(a.cursor));
        if (typeof a.reconnect === 'number') {
          sink.r(a.reconnect);
          return;
        }
        window.setTimeout(poll, 0);
      }

      function poll() {
        if (stopped || stream.dead) return;
        var id = stream.id + '_' + (++pollSeq);
        var done = false;
        name = id;
        pollCallbacks[id] = function (answer) {
          done = true;
          answered(answer);
        };
        var el = pollScript(stream.conn);
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
        el.src = stream.endpoint('poll', (first ? '&open=1' : '') + pollQuery(stream.conn, id));
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
        stream.ended();
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

  // ---------------------------------------------------------------- one stream

  /** One attempt on one transport; the frame id keeps stale frames out. */
  function Stream(conn, transport) {
    this.conn = conn;
    this.transport = transport;
    this.id = 'f' + (++frameSeq) + '_' + Math.floor(Math.random() * 2176782336).toString(36);
    this.cross = conn.cross;
    this.origin = conn.origin;
    this.dead = false;
    this.endTimer = null;
    this.opened = false;
    this.handle = null;
    this.sink = makeSink(this);
  }

  Stream.prototype.url = function (type) {
    var c = this.conn;
    var q = '&t=' + type + '&f=' + this.id;
    if (c.cross) q += '&origin=' + encodeURIComponent(pageOrigin());
    if (c.documentDomain) q += '&d=' + encodeURIComponent(c.documentDomain);
    return this.endpoint('stream', q);
  };

  Stream.prototype.endpoint = function (path, extra) {
    return this.conn._endpoint(path, extra);
  };

  /** `{url}/{path}?channels=...&since=<cursor now>` + extra + token and user params. */
  function endpoint(c, path, extra, noCursor) {
    var q = 'channels=' + encodeURIComponent(c.channels.join(','));
    var since = noCursor ? '' : c._cursorString();
    if (since) q += '&since=' + encodeURIComponent(since);
    q += extra;
    if (c.token) q += '&token=' + encodeURIComponent(c.token);
    for (var k in c.params) {
      if (hasOwn.call(c.params, k)) q += '&' + encodeURIComponent(k) + '=' + encodeURIComponent(c.params[k]);
    }
    return c.url + '/' + path + '?' + q;
  }

  Stream.prototype.contentWindow = function () {
    return this.handle && this.handle.contentWindow ? this.handle.contentWindow() : null;
  };

  /**
   * The transport saw the stream end. A cross-origin frame's last callbacks (its p.r,
   * say) are posted messages that may be dispatched after the frame's load event, so
   * they get a moment to arrive before the end counts as a failure.
   */
  Stream.prototype.ended = function (refused) {
    var self = this;
    if (self.dead || self.endTimer) return;
    if (refused && !self.opened) {
      self.dead = true;
      self.conn._serverError(self, refused.code, refused.message);
      return;
    }
    self.endTimer = window.setTimeout(function () {
      self.endTimer = null;
      if (self.dead) return;
      self.dead = true;
      self.conn._failed(self, 'disconnected', 'The stream ended unexpectedly.');
    }, self.cross ? POSTED_GRACE_MS : 0);
  };

  Stream.prototype.stop = function () {
    this.dead = true;
    if (this.endTimer) window.clearTimeout(this.endTimer);
    this.endTimer = null;
    if (frames[this.id] === this) delete frames[this.id];
    var h = this.handle;
    this.handle = null;
    if (h) {
      try { h.stop(); } catch (e) { /* best effort */ }
    }
  };

  /**
   * The callback object `p` of the protocol. Frames from a stream that is no longer
   * current are ignored; anything that tears the frame down runs after the frame's
   * own script has returned (old IE crashes when a running frame is removed).
   */
  function makeSink(stream) {
    var conn = stream.conn;
    var own = !stream.cross; // same-origin values come from the frame's realm

    function live() {
      if (stream.dead || conn.stream !== stream) return false;
      conn.lastFrame = now();
      return true;
    }

    return {
      o: function (cursor, heartbeatMs) {
        if (!live()) return;
        conn._opened(stream, String(cursor), Number(heartbeatMs));
      },
      m: function () {
        var a = arguments;
        for (var i = 0; i + 2 < a.length; i += 3) {
          if (!live()) return;
          conn._message(String(a[i]), String(a[i + 1]), own ? adopt(a[i + 2], 0) : a[i + 2]);
        }
      },
      // Messages whose data is JSON text, parsed here (it has a `__proto__` key).
      j: function () {
        var a = arguments;
        for (var i = 0; i + 2 < a.length; i += 3) {
          if (!live()) return;
          conn._message(String(a[i]), String(a[i + 1]), textData(a[i + 2]));
        }
      },
      x: function () {
        if (!live()) return;
        var list = [];
        for (var i = 0; i < arguments.length; i++) list.push(String(arguments[i]));
        conn._reset(list);
      },
      c: function (cursor) {
        if (!live()) return;
        conn._setCursor(String(cursor));
      },
      h: function () {
        if (live()) conn._beat();
      },
      r: function (delayMs) {
        if (!live()) return;
        stream.dead = true;
        var delay = Number(delayMs);
        conn._recycle(stream, delay >= 0 ? delay : 0);
      },
      e: function (code, message) {
        if (!live()) return;
        stream.dead = true;
        conn._serverError(stream, String(code), String(message));
      }
    };
  }

  // ---------------------------------------------------------------- connection

  function splitList(v) {
    if (!v) return [];
    if (isArray(v)) return v.slice(0);
    return String(v).split(',');
  }

  function matches(pattern, channel) {
    if (pattern === channel || pattern === '*' || pattern === '**') return true;
    var n = pattern.length;
    if (n > 3 && pattern.substring(n - 3) === '/**') {
      var deep = pattern.substring(0, n - 2);
      return channel.length > deep.length && channel.substring(0, deep.length) === deep;
    }
    if (n > 2 && pattern.substring(n - 2) === '/*') {
      var one = pattern.substring(0, n - 1);
      return channel.length > one.length && channel.substring(0, one.length) === one &&
        channel.indexOf('/', one.length) === -1;
    }
    return false;
  }

  function Connection(options) {
    options = options || {};
    var url = String(option(options, 'url'));
    while (url.length > 1 && url.charAt(url.length - 1) === '/') url = url.substring(0, url.length - 1);
    this.url = url;
    this.documentDomain = options.documentDomain ? String(options.documentDomain) : '';
    if (this.documentDomain && !/^[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$/.test(this.documentDomain)) {
      throw new Error('pushframe: documentDomain must be a host name such as example.com');
    }
    this.origin = originOf(url);
    this.cross = this.origin !== pageOrigin() && !this.documentDomain;
    this.channels = [];
    var list = splitList(options.channels);
    for (var i = 0; i < list.length; i++) if (list[i] && indexOf(this.channels, list[i]) === -1) this.channels.push(list[i]);
    this.token = options.token ? String(options.token) : '';
    this.params = options.params || {};
    // An id is looked up when an event fires: the element may not exist yet.
    this.target = options.target || null;
    this.stallGraceMs = positive(options, 'stallGraceMs');
    // Older pages set the limit as a multiple of the interval; honoured when given.
    this.heartbeatTimeoutFactor = Number(options.heartbeatTimeoutFactor) > 0 ? Number(options.heartbeatTimeoutFactor) : 0;
    this.heartbeatMs = DEFAULTS.heartbeatMs;
    this.nonce = options.nonce ? String(options.nonce) : ownNonce;
    this.openTimeoutMs = positive(options, 'openTimeoutMs');
    this.backoffMinMs = positive(options, 'backoffMinMs');
    this.backoffMaxMs = positive(options, 'backoffMaxMs');
    this.fallbackAfter = positive(options, 'fallbackAfter');
    // reprobeMs 0 turns probing off; anything else not positive means the default.
    this.reprobeMs = Number(option(options, 'reprobeMs')) === 0 ? 0 : positive(options, 'reprobeMs');
    this.reprobeMaxMs = positive(options, 'reprobeMaxMs');
    this.reprobeDelay = this.reprobeMs;
    this.probeTimer = null;
    this.probeFrom = -1; // the polling rung a probe of the streams came from
    this.pathCheckMs = positive(options, 'pathCheckMs');
    this.streamed = false;     // a stream has opened on this connection: no path check
    this.positionDone = null;  // drops a pending path-check poll
    this.pathTimer = null;

    this.ladder = [];
    var names = splitList(option(options, 'transports'));
    for (var t = 0; t < names.length; t++) {
      var tr = hasOwn.call(transports, names[t]) ? transports[names[t]] : null;
      if (tr && tr.supported(this) && indexOf(this.ladder, names[t]) === -1) this.ladder.push(names[t]);
    }
    this.rung = 0;
    this.failures = 0;  // attempts on this rung that never opened
    this.attempt = 0;   // consecutive failures, for backoff
    this.transport = null;
    this.state = 'connecting';

    this.cursorHead = '';
    this.cursorSeen = {};
    this.cursorOrder = [];
    if (options.since) this._setCursor(String(options.since));

    this.handlers = [];
    this.listeners = {};
    this.stream = null;
    this.lastFrame = 0;
    this.timer = null;
    this.watchdog = null;
    this.watchLimit = 0;

    if (this.documentDomain) document.domain = this.documentDomain;
    connections.push(this);
    hook();
    // Streams start after the page's load event: a frame started before it holds
    // the page's onload and busy indicator until the stream ends. After load (a click
    // handler, a script added later) the stream starts at once.
    if (pageReady()) this._schedule(0);
  }

  var proto = Connection.prototype;

  // -- public API

  /** Calls fn(data, meta) for messages on a channel, a pattern (`a/*`, `a/**`) or every channel (`*`). */
  proto.on = function (pattern, fn) {
    if (typeof fn === 'function') this.handlers.push({ pattern: String(pattern), fn: fn });
    return this;
  };

  /** Removes fn from pattern; without fn every handler of pattern; without arguments all. */
  proto.off = function (pattern, fn) {
    for (var i = this.handlers.length - 1; i >= 0; i--) {
      var h = this.handlers[i];
      if ((pattern === undefined || h.pattern === String(pattern)) && (!fn || h.fn === fn)) this.handlers.splice(i, 1);
    }
    return this;
  };

  /** Lifecycle events: open, message, reset, transport, error, close. */
  proto.listen = function (name, fn) {
    if (!hasOwn.call(LIFECYCLE, name)) throw new Error('pushframe: no lifecycle event "' + name + '"');
    if (typeof fn === 'function') (this.listeners[name] || (this.listeners[name] = [])).push(fn);
    return this;
  };

  proto.unlisten = function (name, fn) {
    var list = this.listeners[name];
    if (!list) return this;
    for (var i = list.length - 1; i >= 0; i--) if (!fn || list[i] === fn) list.splice(i, 1);
    return this;
  };

  /** Adds channels or patterns; the one stream re-opens with its cursor, losing nothing. */
  proto.subscribe = function (channels) {
    var list = splitList(channels);
    var changed = false;
    for (var i = 0; i < list.length; i++) {
      if (list[i] && indexOf(this.channels, list[i]) === -1) {
        this.channels.push(list[i]);
        changed = true;
      }
    }
    if (changed) this._reopen();
    return this;
  };

  proto.unsubscribe = function (channels) {
    var list = splitList(channels);
    var changed = false;
    for (var i = 0; i < list.length; i++) {
      var at = indexOf(this.channels, list[i]);
      if (at !== -1) {
        this.channels.splice(at, 1);
        changed = true;
      }
    }
    if (changed) this._reopen();
    return this;
  };

  /** The resume cursor: what this connection already has. */
  proto.cursor = function () {
    return this._cursorString();
  };

  proto.close = function () {
    if (this.state === 'closed') return;
    this._cancelProbe();
    if (this.positionDone) this.positionDone();
    if (this.pathTimer) window.clearTimeout(this.pathTimer);
    this._halt();
    this.state = 'closed';
    var at = indexOf(connections, this);
    if (at !== -1) connections.splice(at, 1);
    unhook();
    this._emit('close', {});
    this.handlers = [];
    this.listeners = {};
  };

  // -- cursor

  // The server's last cursor (from p.o or a checkpoint, p.c, which it sends often
  // enough that few channels gather here) plus the last id seen per channel since.
  proto._setCursor = function (text) {
    var parts = text.split(',');
    this.cursorHead = parts[0];
    this.cursorSeen = {};
    this.cursorOrder = [];
    for (var i = 1; i < parts.length; i++) {
      var at = parts[i].lastIndexOf('@');
      if (at > 0) this._see(parts[i].substring(0, at), parts[i].substring(at + 1));
    }
  };

  // Ids stay opaque: the server delivers each channel in order and never twice,
  // so the latest one received is the one to resume from. Keys carry a prefix so that
  // channels named `__proto__`, `constructor` or `hasOwnProperty` are ordinary keys.
  proto._see = function (channel, id) {
    var key = '$' + channel;
    if (!hasOwn.call(this.cursorSeen, key)) this.cursorOrder.push(channel);
    this.cursorSeen[key] = id;
  };

  proto._cursorString = function () {
    if (!this.cursorHead) return '';
    var out = this.cursorHead;
    for (var i = 0; i < this.cursorOrder.length; i++) {
      out += ',' + this.cursorOrder[i] + '@' + this.cursorSeen['$' + this.cursorOrder[i]];
    }
    return out;
  };

  // -- events

  proto._emit = function (name, detail) {
    var list = this.listeners[name];
    if (list) {
      list = list.slice(0);
      for (var i = 0; i < list.length; i++) {
        try { list[i].call(this, detail); } catch (err) { report(err); }
      }
    }
    dispatch(byId(this.target) || document, EVENT_PREFIX + name, detail);
  };

  proto._message = function (channel, id, data) {
    this._see(channel, id);
    var meta = { channel: channel, id: id };
    var list = this.handlers.slice(0);
    for (var i = 0; i < list.length; i++) {
      if (matches(list[i].pattern, channel)) {
        try { list[i].fn.call(this, data, meta); } catch (err) { report(err); }
      }
    }
    var lc = this.listeners.message;
    if (lc) {
      lc = lc.slice(0);
      for (var j = 0; j < lc.length; j++) {
        try { lc[j].call(this, data, meta); } catch (err2) { report(err2); }
      }
    }
    dispatch(byId(this.target) || document, EVENT_PREFIX + 'message', { channel: channel, id: id, data: data });
  };

  // -- stream management

  proto._clearTimers = function () {
    if (this.timer) window.clearTimeout(this.timer);
    if (this.watchdog) window.clearTimeout(this.watchdog);
    this.timer = this.watchdog = null;
  };

  proto._halt = function () {
    this._clearTimers();
    var s = this.stream;
    this.stream = null;
    if (s) s.stop();
  };

  /** Starts a stream after delay ms (never from inside a frame's own call stack). */
  proto._schedule = function (delay) {
    var self = this;
    if (self.state === 'closed') return;
    if (self.timer) window.clearTimeout(self.timer);
    self.timer = window.setTimeout(function () {
      self.timer = null;
      self._start();
    }, delay);
  };

  proto._suspend = function () {
    if (this.state === 'closed') return;
    this._halt();
    this.state = 'suspended';
  };

  proto._reopen = function () {
    if (this.state === 'closed') return;
    this._halt();
    if (pageReady()) this._schedule(0);
  };

  proto._start = function () {
    if (this.state === 'closed' || !pageReady()) return;
    this._halt();
    if (!this.channels.length) {
      this.state = 'idle';
      return;
    }
    var name = this.ladder[this.rung];
    if (!name) {
      this._emit('error', { code: 'no_transport', message: 'No transport of this browser can reach the server.' });
      this.close();
      return;
    }
    if (name !== this.transport) {
      this.transport = name;
      this._emit('transport', { name: name });
      if (this.state === 'closed') return;
    }
    var stream = new Stream(this, name);
    this.stream = stream;
    this.state = 'connecting';
    frames[stream.id] = stream;
    this.lastFrame = now();
    this._watch(stream, this.openTimeoutMs);
    this._checkPath(stream);
    try {
      stream.handle = transports[name].start(stream);
    } catch (err) {
      // This browser cannot host the transport after all (e.g. ActiveX disabled).
      this._halt();
      this.failures = this.fallbackAfter;
      this._emit('error', { code: 'transport_failed', message: 'The ' + name + ' transport could not start.' });
      this._fallback(stream, this._backoff());
    }
  };

  /**
   * The watchdog: a stream that shows nothing for `limit` ms is dead. Before it opened
   * that is a `timeout` (nothing ever came: a dead path or a buffering proxy); after, a
   * `stalled` stream (a cut or frozen path, a crashed server), which only bytes reveal
   * in Chromium. The time is the wall clock's, so a check after the machine slept sees
   * the whole silence.
   */
  proto._watch = function (stream, limit) {
    this.watchLimit = limit;
    this._arm(stream);
  };

  proto._arm = function (stream) {
    var self = this;
    if (self.watchdog) window.clearTimeout(self.watchdog);
    var left = self.lastFrame + self.watchLimit - now();
    self.watchdog = window.setTimeout(function () {
      self.watchdog = null;
      self._expire(stream, '');
    }, left > 0 ? left : 0);
  };

  /** Fails the stream if it has been quiet for the limit, else waits for the rest. */
  proto._expire = function (stream, why) {
    if (this.stream !== stream || stream.dead || this.state === 'closed') return;
    var quiet = now() - this.lastFrame;
    if (quiet < this.watchLimit) {
      this._arm(stream);
      return;
    }
    var message = 'No data from the server for ' + quiet + ' ms' + why + '.';
    if (stream.opened) this._failed(stream, 'stalled', message);
    // An attempt the machine slept through says nothing about proxies: just retry.
    else if (why) this._replace('timeout', message);
    else this._failed(stream, 'timeout', message);
  };

  /** How long an open stream may stay silent: the announced interval plus the grace. */
  proto._limit = function (intervalMs) {
    if (this.heartbeatTimeoutFactor) return intervalMs * this.heartbeatTimeoutFactor;
    return intervalMs + this.stallGraceMs;
  };

  /**
   * Looks at the stream now instead of waiting for the watchdog: on every pulse (a
   * same-origin frame that stopped loading has ended), when the page becomes visible
   * (timers of hidden tabs are throttled), after the machine slept (`wake`), and when
   * the browser comes back online (the open stream went over the old path, so it is
   * replaced; a retry waiting out its backoff goes now).
   */
  proto._check = function (why, gapMs) {
    if (this.state === 'closed' || this.state === 'suspended') return;
    var s = this.stream;
    if (!s || s.dead) {
      if ((why === 'online' || why === 'wake') && !s && this.timer && this.state === 'reconnecting') {
        this.attempt = 0;
        this._schedule(0);
      }
      return;
    }
    if (why === 'online') {
      this._replace('network_changed', 'The browser came back online; the stream is replaced.');
      return;
    }
    if (s.opened && s.handle && s.handle.finished && s.handle.finished()) {
      s.ended(null);
      return;
    }
    if (why !== 'pulse') this._expire(s, why === 'wake' ? ' (timers stopped for ' + gapMs + ' ms: the machine slept)' : '');
  };

  /** Drops the current stream and starts another soon, as after a first failure. */
  proto._replace = function (code, message) {
    this._halt();
    this._emit('error', { code: code, message: message });
    if (this.state === 'closed') return;
    this.attempt = 0;
    this.state = 'reconnecting';
    this._schedule(this._backoff());
  };

  proto._opened = function (stream, cursor, heartbeatMs) {
    stream.opened = true;
    if (!transports[stream.transport].polling) this.streamed = true;
    this.state = 'open';
    this.failures = 0;
    this.attempt = 0;
    if (heartbeatMs > 0) this.heartbeatMs = heartbeatMs;
    this._setCursor(cursor);
    this._watch(stream, this._limit(this.heartbeatMs));
    if (transports[stream.transport].polling) {
      this._planProbe();
    } else {
      // Streaming works (again): the next fall to polling probes soon.
      this.probeFrom = -1;
      this.reprobeDelay = this.reprobeMs;
    }
    this._emit('open', { transport: stream.transport, cursor: cursor, heartbeatMs: this.heartbeatMs });
  };

  proto._endpoint = function (path, extra) {
    return endpoint(this, path, extra);
  };

  /**
   * One poll beside a stream that has not yet proven itself on this connection, sent
   * without a cursor so the server answers at once (with the current position). It tells
   * two things. A connection made without `since` has no position until a stream opens,
   * and behind a buffering proxy no stream ever does: the answer gives it one, so the fall
   * to long-poll loses nothing published in the meantime. And a complete answer that
   * arrives while the stream shows nothing is the mark of a proxy that holds streams
   * back: the stream gets max(pathCheckMs, 2x the poll's round trip) more, then the
   * connection falls to long-poll. No polling rung below: nothing to decide.
   */
  proto._checkPath = function (stream) {
    var self = this;
    if (transports[stream.transport].polling) return;
    var pollRung = false;
    for (var r = self.rung + 1; r < self.ladder.length; r++) if (transports[self.ladder[r]].polling) pollRung = true;
    if (!pollRung) return;
    var wantPosition = !self.cursorHead;
    if (self.streamed && !wantPosition) return;
    if (self.positionDone) self.positionDone();
    var id = 'pos' + (++pollSeq);
    var el = pollScript(self);
    var sent = now();
    function done() {
      self.positionDone = null;
      el.onload = el.onerror = el.onreadystatechange = null;
      pollCallbacks[id] = ignore;
      try { if (el.parentNode) el.parentNode.removeChild(el); } catch (e) { /* gone */ }
    }
    self.positionDone = done;
    pollCallbacks[id] = function (a) {
      done();
      if (self.state === 'closed' || !a) return;
      if (!self.cursorHead && a.cursor) self._setCursor(String(a.cursor));
      if (self.streamed || self.stream !== stream || stream.dead || stream.opened) return;
      var took = now() - sent;
      var grace = Math.max(self.pathCheckMs, 2 * took);
      if (self.pathTimer) window.clearTimeout(self.pathTimer);
      self.pathTimer = window.setTimeout(function () {
        self.pathTimer = null;
        if (self.stream !== stream || stream.dead || stream.opened) return;
        self._failed(stream, 'timeout', 'A poll was answered in ' + took + ' ms but the stream showed nothing ' +
          grace + ' ms later: something on the way buffers streams.');
      }, grace);
    };
    el.onerror = done;
    el.src = endpoint(self, 'poll', pollQuery(self, id), true);
    scriptParent().appendChild(el);
  };

  /** The cursor of a poll answer: the server's view of what this connection has. */
  proto._position = function (stream, cursor) {
    if (this.stream === stream && !stream.dead) this._setCursor(cursor);
  };

  /** On a polling rung below streaming ones: try streaming again later. */
  proto._planProbe = function () {
    var self = this;
    if (self.probeTimer || self.rung === 0 || !(self.reprobeDelay > 0)) return;
    self.probeTimer = window.setTimeout(function () {
      self.probeTimer = null;
      if (self.state === 'closed' || !transports[self.ladder[self.rung]].polling) return;
      self.probeFrom = self.rung;
      self.rung = 0;
      self.failures = 0;
      self._reopen();
    }, self.reprobeDelay);
  };

  proto._cancelProbe = function () {
    if (this.probeTimer) window.clearTimeout(this.probeTimer);
    this.probeTimer = null;
  };

  /** A heartbeat frame arrived (tab sharing relays it as the leader's sign of life). */
  proto._beat = function () {};

  proto._reset = function (channels) {
    this._emit('reset', { channels: channels });
  };

  proto._backoff = function () {
    var d = this.backoffMinMs * Math.pow(2, Math.min(this.attempt, 30));
    if (d > this.backoffMaxMs) d = this.backoffMaxMs;
    this.attempt++;
    // Equal jitter: at least half the delay, so a crowd of clients spreads out.
    return Math.round(d / 2 + Math.random() * d / 2);
  };

  /** A failed attempt: count it against the transport if it never opened, then retry. */
  proto._fallback = function (stream, delay) {
    if (!stream.opened && this.probeFrom >= 0) {
      // The probe found streaming still blocked: back to polling at once, probe later.
      this.rung = this.probeFrom;
      this.probeFrom = -1;
      this.failures = 0;
      this.attempt = 0;
      this.reprobeDelay = Math.min(this.reprobeDelay * 2, this.reprobeMaxMs);
      this.state = 'reconnecting';
      this._schedule(0);
      return;
    }
    if (!stream.opened) this.failures++;
    if (this.failures >= this.fallbackAfter && this.rung < this.ladder.length - 1) {
      this.rung++;
      this.failures = 0;
      this.attempt = 0;
      delay = 0;
    }
    this.state = 'reconnecting';
    this._schedule(delay);
  };

  proto._failed = function (stream, code, message) {
    if (this.stream !== stream || this.state === 'closed') return;
    this._halt();
    this._emit('error', { code: code, message: message });
    if (this.state === 'closed') return;
    if (code === 'timeout' && !stream.opened && this.probeFrom < 0) this._skipToPolling();
    this._fallback(stream, this._backoff());
  };

  /**
   * Not one byte of a stream within the open deadline: the signature of a proxy that
   * holds responses until they complete. Other streams would fare the same, so the
   * next attempt is the first polling rung (the failure counted in _fallback moves there).
   */
  proto._skipToPolling = function () {
    for (var r = this.rung + 1; r < this.ladder.length; r++) {
      if (transports[this.ladder[r]].polling) {
        this.rung = r - 1;
        this.failures = this.fallbackAfter;
        return;
      }
    }
  };

  proto._recycle = function (stream, delay) {
    var self = this;
    self._clearTimers();
    self.state = 'reconnecting';
    // Tear the frame down once its script has returned, then come back with the cursor.
    self.timer = window.setTimeout(function () {
      self.timer = null;
      if (self.stream === stream) self._halt();
      self._schedule(delay);
    }, 0);
  };

  proto._serverError = function (stream, code, message) {
    var self = this;
    self._clearTimers();
    if (code === 'shutting_down') {
      // A node in a planned restart: not an error for the page, just somewhere else to go.
      self._recycle(stream, Math.round(self.backoffMinMs / 2 + Math.random() * self.backoffMinMs / 2));
      return;
    }
    self.timer = window.setTimeout(function () {
      self.timer = null;
      if (self.stream !== stream) return;
      self._halt();
      self._emit('error', { code: code, message: message });
      if (self.state === 'closed') return;
      if (hasOwn.call(FATAL, code)) {
        self.close();
        return;
      }
      if (code === 'bad_cursor') {
        // The cursor cannot be used: start afresh, and tell the page it may have a gap.
        var had = self.channels.slice(0);
        self._setCursor('');
        self.cursorHead = '';
        self._reset(had);
      }
      self.state = 'reconnecting';
      self._schedule(self._backoff());
    }, 0);
  };

  // ---------------------------------------------------------------- tab sharing

  /*
   * Many tabs, one stream (docs/bridge.md). Per server (url and params), one tab of the
   * browser leads: it runs an internal connection, the engine, for the union of every
   * tab's channels, and relays what the engine gets over a bus (BroadcastChannel, else
   * localStorage and its storage event). Every tab's connections, the leader's own
   * included, are facades fed by that relay, so a page cannot tell by its events
   * whether it holds the stream. Leadership is a Web Lock where the browser has them
   * (held until the tab goes: hand-over needs no timer), else a lease in localStorage
   * renewed by the stream's own frames. Each tab keeps the stream's cursor as relayed,
   * so whichever tab leads next resumes from the last message it saw; repeats after a
   * hand-over are dropped by id. A connection that joins with an older cursor of its
   * own (`since`) fetches the gap once and merges it with the relay (gp.catchUp).
   */

  var SHARE_PREFIX = 'pushframe|share|';
  // Ids remembered per channel: a new leader resumes from its own position, which may
  // trail by the messages still in flight to it when the old one went.
  var RECENT_IDS = 256;
  // Storage fallback: a lease lasts this many heartbeat intervals; the leader renews it
  // on the stream's frames (its timers may be throttled in a background tab).
  var LEASE_BEATS = 3;
  // A hello older than this, after a new leader asked for them, drops that member's
  // channels at the next change of the union (its tab crashed without saying bye).
  var MEMBER_GRACE_MS = 10000;

  // Refusals one member's own channels or grant can cause.
  var MEMBER_FAULTS = { bad_channel: 1, bad_pattern: 1, bad_grant: 1, too_many_channels: 1, unauthorized: 1 };

  var tabId = 't' + now().toString(36) + Math.floor(Math.random() * 2176782336).toString(36);
  var groups = {};   // share key -> Group of this tab
  var memberSeq = 0;

  function localStore() {
    try {
      var s = window.localStorage;
      if (!s || !window.JSON) return null;
      s.setItem(SHARE_PREFIX + 'probe', '1');
      s.removeItem(SHARE_PREFIX + 'probe');
      return s;
    } catch (e) {
      return null; // disabled, private mode, or a full quota
    }
  }

  function webLocks() {
    try {
      var l = window.navigator && window.navigator.locks;
      return l && typeof l.request === 'function' && typeof window.Promise === 'function' ? l : null;
    } catch (e) {
      return null;
    }
  }

  /** A bus between this tab and the others of the same key: `post` reaches every other tab. */
  function openBus(key, receive) {
    if (typeof window.BroadcastChannel === 'function') {
      try {
        var bc = new window.BroadcastChannel(SHARE_PREFIX + key);
        bc.onmessage = function (ev) {
          if (ev && ev.data && typeof ev.data === 'object') receive(ev.data);
        };
        return {
          post: function (msg) {
            try { bc.postMessage(msg); } catch (e) { /* closed */ }
          },
          close: function () {
            bc.onmessage = null;
            try { bc.close(); } catch (e) { /* closed */ }
          }
        };
      } catch (e1) { /* fall through to storage */ }
    }
    var store = localStore();
    // IE8 has localStorage but its storage event names no key and carries no value.
    if (!store || !window.StorageEvent) return null;
    var slot = SHARE_PREFIX + key + '|bus';
    var seq = 0;
    function onStorage(ev) {
      if (!ev || ev.key !== slot || !ev.newValue) return;
      var box;
      try { box = parseJson(ev.newValue); } catch (e) { return; }
      // IE fires storage events in the writing window too.
      if (box && box.m && typeof box.m === 'object' && box.m.tab !== tabId) receive(box.m);
    }
    addListener(window, 'storage', onStorage);
    return {
      post: function (msg) {
        // A fresh value each time: writing an equal value fires no event.
        try { store.setItem(slot, window.JSON.stringify({ n: tabId + (++seq), m: msg })); } catch (e) { /* quota */ }
      },
      close: function () {
        removeListener(window, 'storage', onStorage);
      }
    };
  }

  /** `pattern!n`: the pattern, authorised by the n-th grant of a shared stream's token list. */
  function bareChannel(entry) {
    var bang = entry.indexOf('!');
    return bang === -1 ? entry : entry.substring(0, bang);
  }

  function matchesAny(patterns, channel) {
    for (var i = 0; i < patterns.length; i++) if (matches(patterns[i], channel)) return true;
    return false;
  }

  function sameSet(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (indexOf(b, a[i]) === -1) return false;
    return true;
  }

  function Group(key, bus, locks, store) {
    this.key = key;
    this.bus = bus;
    this.locks = locks;
    this.store = store;      // lease fallback only
    this.local = [];         // this tab's facades
    this.leader = '';        // the tab that leads, as far as this tab knows
    this.leading = false;
    this.engine = null;
    this.members = {};       // leader: member id -> { ch, tok, at }
    this.joined = [];        // leader: members added since the engine last opened
    this.held = [];          // leader: suspects of a refusal, let in one at a time
    this.proven = {};        // leader: members the engine has opened with
    this.whoAt = 0;
    this.last = null;        // the last open relay: { d, mem, tab }
    this.fatal = null;
    this.quietOpen = false;
    this.closed = false;
    this.lockHeld = false;
    this.release = null;
    this.claim = null;       // lease: { tab, at, until } this tab wrote
    this.renewedAt = 0;
    this.heardAt = now();
    this.watchTimer = null;
    this.recent = {};
    proto._setCursor.call(this, '');
  }

  var gp = Group.prototype;

  gp.send = function (msg) {
    msg.tab = tabId;
    this.bus.post(msg);
    this.receive(msg);
  };

  gp.hello = function (c) {
    this.send({ k: 'hello', m: c.memberId, ch: c.channels.slice(0), tok: c.token });
  };

  gp.join = function (c) {
    if (indexOf(this.local, c) === -1) this.local.push(c);
    // A cursor of its own that may trail the stream (`since`, or where it was suspended):
    // caught up once it is open. One that stayed open (a subscribe()) missed nothing.
    if (!c.shareOpened && c.cursorHead && c._cursorString() !== this._cursorString()) c.shareSince = c._cursorString();
    // The first member's own cursor (`since`) is where a new shared stream starts.
    if (!this.cursorHead && c.cursorHead) proto._setCursor.call(this, c._cursorString());
    if (!c.shareOpened) proto._setCursor.call(c, this._cursorString());
    this.hello(c);
    this.elect();
    this.watch();
  };

  gp.leave = function (c) {
    var at = indexOf(this.local, c);
    if (at === -1) return;
    this.local.splice(at, 1);
    this.send({ k: 'bye', m: c.memberId });
    if (!this.local.length) this.shut();
  };

  /** The last facade of this tab left: give up leadership and the bus. */
  gp.shut = function () {
    this.closed = true;
    if (groups[this.key] === this) delete groups[this.key];
    if (this.watchTimer) window.clearTimeout(this.watchTimer);
    this.watchTimer = null;
    if (this.leading) this.abdicate(true);
    this.bus.close();
  };

  // -- election

  gp.elect = function () {
    if (this.closed || this.leading) return;
    if (this.locks) this.request(false);
    else this.claimLease(false);
  };

  /** Queues for the lock (once); `steal` takes it from a leader that stopped answering. */
  gp.request = function (steal) {
    var g = this;
    if (g.lockQueued && !steal) return;
    g.lockQueued = true;
    var p;
    try {
      p = g.locks.request(SHARE_PREFIX + g.key, steal ? { steal: true } : {}, function () {
        if (g.closed) return null;
        return new window.Promise(function (resolve) {
          g.release = resolve;
          g.lockHeld = true;
          g.lead();
        });
      });
    } catch (e) {
      g.lockQueued = false;
      return;
    }
    if (!p || typeof p.then !== 'function') return;
    p.then(function () {
      // Released by this tab: queue again unless it left (it gave up leading for another).
      g.lockQueued = false;
      if (!g.closed && !g.leading) g.request(false);
    }, function () {
      // Stolen (this tab was frozen, or hung, and another took over) or refused.
      g.lockQueued = false;
      g.lockHeld = false;
      g.release = null;
      if (g.leading) g.abdicate(false);
      if (!g.closed) g.request(false);
    });
  };

  gp.leaseSlot = function () {
    return SHARE_PREFIX + this.key + '|lease';
  };

  gp.readLease = function () {
    try {
      var text = this.store.getItem(this.leaseSlot());
      var l = text ? parseJson(text) : null;
      return l && typeof l.tab === 'string' ? l : null;
    } catch (e) {
      return null;
    }
  };

  gp.writeLease = function () {
    this.claim.until = now() + LEASE_BEATS * this.beat();
    this.renewedAt = now();
    try { this.store.setItem(this.leaseSlot(), window.JSON.stringify(this.claim)); } catch (e) { /* quota */ }
  };

  /** Lease fallback: take the lease when it is free or expired. */
  gp.claimLease = function () {
    if (this.closed || this.leading) return;
    var l = this.readLease();
    if (l && l.tab !== tabId && l.until > now()) return;
    this.claim = { tab: tabId, at: now(), until: 0 };
    this.writeLease();
    this.lead();
  };

  /** Two claims: the later wins, the larger tab id on a tie; both tabs decide alike. */
  function beats(a, b) {
    return a.at > b.at || (a.at === b.at && a.tab > b.tab);
  }

  gp.onLease = function (l) {
    if (!this.leading || !this.claim) return;
    if (!l) {
      this.writeLease();
      return;
    }
    if (l.tab === tabId) return;
    if (beats(l, this.claim)) this.abdicate(false);
    else this.writeLease();
  };

  gp.beat = function () {
    return this.engine ? this.engine.heartbeatMs : DEFAULTS.heartbeatMs;
  };

  gp.renew = function () {
    var beat = this.beat();
    // Renewed twice an interval, and at once when the server announces a shorter one.
    if (this.store && this.claim && this.leading && (now() - this.renewedAt >= beat / 2 || this.claim.until - now() > LEASE_BEATS * beat)) {
      var l = this.readLease();
      if (l && l.tab !== tabId && beats(l, this.claim)) this.abdicate(false);
      else this.writeLease();
    }
  };

  /** This tab now holds the stream for all. */
  gp.lead = function () {
    var g = this;
    if (g.closed || g.leading) return;
    g.leading = true;
    g.leader = tabId;
    g.members = {};
    g.joined = [];
    g.held = [];
    g.proven = {};
    var t = now();
    // The members the last leader served, but its own tab's: they went with it.
    var mem = g.last ? g.last.mem : {};
    for (var id in mem) {
      if (hasOwn.call(mem, id) && id.substring(0, id.indexOf('.')) !== g.last.tab) {
        g.members[id] = { ch: mem[id].ch, tok: mem[id].tok, at: 0 };
      }
    }
    for (var i = 0; i < g.local.length; i++) {
      var c = g.local[i];
      if (c.channels.length && c.state !== 'idle') g.members[c.memberId] = { ch: c.channels.slice(0), tok: c.token, at: t };
    }
    g.whoAt = t;
    g.quietOpen = true;
    g.send({ k: 'lead', claim: g.claim });
    g.send({ k: 'who' });
    g.startEngine();
  };

  /** Stops leading: `quit` when this tab leaves, otherwise another tab took over. */
  gp.abdicate = function (quit) {
    this.leading = false;
    if (this.leader === tabId) this.leader = '';
    var e = this.engine;
    this.engine = null;
    if (e) {
      e.shareStopped = true;
      e.close();
    }
    if (this.release) {
      var r = this.release;
      this.release = null;
      this.lockHeld = false;
      r();
    }
    if (this.store && this.claim) {
      var l = this.readLease();
      if (quit && l && l.tab === tabId) {
        try { this.store.removeItem(this.leaseSlot()); } catch (err) { /* gone */ }
      }
      this.claim = null;
    }
    if (quit) this.bus.post({ k: 'resign', tab: tabId });
  };

  // -- the engine (leader only)

  /** The stream's channel list: each member's patterns, `!n` naming the grant that covers them. */
  gp.union = function () {
    var entries = [];
    var tokens = [];
    var t = now();
    for (var id in this.members) {
      if (!hasOwn.call(this.members, id)) continue;
      var m = this.members[id];
      if (m.at < this.whoAt && t - this.whoAt > MEMBER_GRACE_MS) {
        delete this.members[id]; // asked for a hello long ago, said nothing
        continue;
      }
      var ref = '';
      if (m.tok) {
        var n = indexOf(tokens, m.tok);
        if (n === -1) {
          n = tokens.length;
          tokens.push(m.tok);
        }
        ref = '!' + n;
      }
      for (var i = 0; i < m.ch.length; i++) {
        var entry = m.ch[i] + ref;
        if (indexOf(entries, entry) === -1) entries.push(entry);
      }
    }
    return { ch: entries, tok: tokens };
  };

  gp.startEngine = function () {
    var g = this;
    var first = g.local[0];
    if (!first || g.closed) return;
    var u = g.union();
    var options = {};
    for (var k in first.shareOptions) if (hasOwn.call(first.shareOptions, k)) options[k] = first.shareOptions[k];
    options.channels = u.ch;
    options.token = u.tok.join(',');
    options.since = g._cursorString();
    options.target = null;
    // A stream that starts from a member's own cursor gives it everything: no gap to fetch.
    for (var j = 0; j < g.local.length; j++) if (g.local[j].shareSince === options.since) g.local[j].shareSince = '';
    var e = new Connection(options);
    e.shareTokens = u.tok;
    g.engine = e;
    g.fatal = null;
    e._emit = function (name, detail) {
      if (g.engine === e) g.engineEvent(e, name, detail);
    };
    e._message = function (channel, id, data) {
      this._see(channel, id);
      if (g.engine === e) g.send({ k: 'm', c: channel, i: id, d: data });
    };
    e._setCursor = function (text) {
      proto._setCursor.call(this, text);
      if (g.engine === e) g.send({ k: 'c', cursor: text });
    };
    e._beat = function () {
      if (g.engine === e) g.send({ k: 'h' });
    };
    // Start now rather than a tick later: the member has already waited its turn.
    if (e.timer) {
      window.clearTimeout(e.timer);
      e.timer = null;
      e._start();
    }
  };

  /** The union changed: the engine re-opens with its cursor (the resume every stream has). */
  gp.rejoin = function () {
    var e = this.engine;
    if (!e) return;
    var u = this.union();
    if (sameSet(u.ch, e.channels) && sameSet(u.tok, e.shareTokens)) return;
    e.channels = u.ch;
    e.shareTokens = u.tok;
    e.token = u.tok.join(',');
    this.quietOpen = true;
    // At once, not a tick later: this never runs inside a frame's own script.
    if (pageReady()) e._start();
    else e._reopen();
  };

  gp.memberTable = function () {
    var out = {};
    for (var id in this.members) {
      if (hasOwn.call(this.members, id)) out[id] = { ch: this.members[id].ch, tok: this.members[id].tok };
    }
    return out;
  };

  gp.engineEvent = function (e, name, detail) {
    if (name === 'open') {
      var joined = this.joined;
      this.joined = [];
      // Quiet after a re-open for the union's sake or a hand-over: only the tabs that
      // asked (or are new) see an open, as each would alone. Any other re-open (a
      // recycle, a reconnect after an error) is seen by all, as by a stream of its own.
      var quiet = this.quietOpen;
      this.quietOpen = false;
      for (var pid in this.members) if (hasOwn.call(this.members, pid)) this.proven[pid] = 1;
      this.send({ k: 'o', d: detail, mem: this.memberTable(), cause: joined, quiet: quiet });
      var next = this.held.shift();
      if (next) {
        this.members[next.id] = next.m;
        this.joined.push(next.id);
        this.rejoin();
      }
    } else if (name === 'error') {
      if (hasOwn.call(FATAL, detail.code) || detail.code === 'no_transport') this.fatal = detail;
      else this.send({ k: 'e', d: detail });
    } else if (name === 'transport') {
      this.transportName = detail.name;
      this.send({ k: 't', d: detail });
    } else if (name === 'reset') {
      var list = [];
      for (var i = 0; i < detail.channels.length; i++) list.push(bareChannel(detail.channels[i]));
      this.send({ k: 'x', d: { channels: list } });
    } else if (name === 'close' && !e.shareStopped && this.fatal) {
      this.refuse(this.fatal);
    }
  };

  /**
   * The union stream was refused for good. Alone, the member that asked for the
   * failing channels would have been refused: the members added since the stream last
   * opened are refused; with none, an expired grant ends the members that have one.
   */
  gp.refuse = function (err) {
    var out = [];
    var id;
    if (hasOwn.call(MEMBER_FAULTS, err.code)) {
      // Suspects: the members the stream has never opened with (the leader's own included).
      for (id in this.members) if (hasOwn.call(this.members, id) && !hasOwn.call(this.proven, id)) out.push(id);
    }
    if (out.length > 1) {
      // Several joined at once: which one the server refused cannot be told apart, so
      // they are let in one at a time (each re-open is the resume every stream has).
      for (var h = 1; h < out.length; h++) {
        this.held.push({ id: out[h], m: this.members[out[h]] });
        delete this.members[out[h]];
      }
      this.joined = [out[0]];
      this.engine = null;
      if (!this.closed && this.leading) this.startEngine();
      return;
    }
    if (!out.length) {
      for (id in this.members) {
        if (hasOwn.call(this.members, id) && (err.code !== 'bad_grant' || this.members[id].tok)) out.push(id);
      }
    }
    for (var i = 0; i < out.length; i++) delete this.members[out[i]];
    this.joined = [];
    this.engine = null;
    this.send({ k: 'refused', to: out, d: err, tr: this.transportName });
    if (!this.closed && this.leading) this.startEngine();
  };

  // -- the relay (every tab)

  gp.receive = function (msg) {
    if (this.closed) return;
    var k = msg.k;
    if (k === 'hello' || k === 'bye') {
      if (this.leading) this.member(msg);
      return;
    }
    if (k === 'lead') {
      if (this.leading && msg.tab !== tabId) {
        // Locks: only the holder announces, so this tab's lock was taken from it.
        // Lease fallback: two tabs claimed at once; the same rule decides in both.
        if (this.locks || (msg.claim && this.claim && beats(msg.claim, this.claim))) this.abdicate(false);
        else return;
      }
      this.leader = msg.tab;
      this.heard();
      return;
    }
    if (k === 'who') {
      if (msg.tab === tabId) return;
      for (var w = 0; w < this.local.length; w++) this.hello(this.local[w]);
      return;
    }
    if (k === 'resign') {
      if (msg.tab === this.leader) this.leader = '';
      if (!this.locks) this.claimLease();
      return;
    }
    if (!this.leader && msg.tab) this.leader = msg.tab;
    // A leader that was frozen and woke up may still relay for a moment: ignore it.
    if (msg.tab !== this.leader) return;
    this.heard();
    var list = this.local.slice(0);
    var i;
    if (k === 'm') {
      this.message(list, String(msg.c), String(msg.i), msg.d);
    } else if (k === 'c') {
      proto._setCursor.call(this, String(msg.cursor));
      for (i = 0; i < list.length; i++) this.follow(list[i], String(msg.cursor));
    } else if (k === 'o') {
      this.last = { d: msg.d, mem: msg.mem, tab: msg.tab };
      proto._setCursor.call(this, String(msg.d.cursor));
      for (i = 0; i < list.length; i++) {
        var c = list[i];
        if (!hasOwn.call(msg.mem, c.memberId)) continue;
        if (c.state !== 'open' || !msg.quiet || indexOf(msg.cause, c.memberId) !== -1) this.opened(c, msg.d);
        else this.follow(c, String(msg.d.cursor));
      }
    } else if (k === 'state') {
      // A tab's first word from the stream: its cursor until then was a member's own.
      if (!this.cursorHead || !this.last) proto._setCursor.call(this, String(msg.d.cursor));
      this.last = { d: msg.d, mem: msg.mem, tab: msg.tab };
      for (i = 0; i < list.length; i++) if (list[i].memberId === msg.to && list[i].state !== 'open') this.opened(list[i], msg.d);
    } else if (k === 't') {
      for (i = 0; i < list.length; i++) this.transport(list[i], msg.d.name);
    } else if (k === 'e') {
      for (i = 0; i < list.length; i++) {
        if (list[i].state === 'open' || list[i].state === 'connecting' || list[i].state === 'reconnecting') {
          list[i].state = 'reconnecting';
          list[i]._emit('error', msg.d);
        }
      }
    } else if (k === 'x') {
      for (i = 0; i < list.length; i++) {
        if (list[i].shareCatch) list[i].shareCatch.buf.push({ x: msg.d.channels });
        else this.reset(list[i], msg.d.channels);
      }
    } else if (k === 'refused') {
      // Whoever leads next must not bring them back into the union.
      if (this.last && this.last.mem) for (i = 0; i < msg.to.length; i++) delete this.last.mem[msg.to[i]];
      for (i = 0; i < list.length; i++) {
        if (indexOf(msg.to, list[i].memberId) === -1) continue;
        // As alone: the transport it tried, the refusal, the end.
        if (msg.tr) this.transport(list[i], msg.tr);
        list[i]._emit('error', msg.d);
        list[i].close();
      }
    }
    this.renew();
  };

  gp.member = function (msg) {
    var has = hasOwn.call(this.members, msg.m);
    for (var h = 0; h < this.held.length; h++) if (this.held[h].id === msg.m) this.held.splice(h--, 1);
    if (msg.k === 'bye' || !msg.ch || !msg.ch.length) {
      if (has) delete this.members[msg.m];
      this.rejoin();
      return;
    }
    var tok = msg.tok ? String(msg.tok) : '';
    // A member that asks for something else is a suspect again until the stream opens with it.
    if (has && (!sameSet(msg.ch, this.members[msg.m].ch) || tok !== this.members[msg.m].tok)) delete this.proven[msg.m];
    this.members[msg.m] = { ch: msg.ch, tok: tok, at: now() };
    var e = this.engine;
    var u = this.union();
    if (e && (!sameSet(u.ch, e.channels) || !sameSet(u.tok, e.shareTokens))) {
      if (indexOf(this.joined, msg.m) === -1) this.joined.push(msg.m);
      this.rejoin();
    } else if (e && e.state === 'open' && this.last) {
      this.proven[msg.m] = 1; // what it asks for is in the open stream already
      // A newcomer starts where the stream is now, and learns the members in case it leads next.
      var d = {};
      for (var k in this.last.d) if (hasOwn.call(this.last.d, k)) d[k] = this.last.d[k];
      d.cursor = e._cursorString();
      this.send({ k: 'state', to: msg.m, d: d, mem: this.memberTable() });
    }
  };

  gp.wanted = function () {
    for (var i = 0; i < this.local.length; i++) if (this.local[i].channels.length) return true;
    return false;
  };

  gp.heard = function () {
    this.heardAt = now();
  };

  gp.opened = function (c, d) {
    this.transport(c, d.transport);
    if (c.state === 'closed') return;
    c.state = 'open';
    c.shareOpened = true;
    c.heartbeatMs = d.heartbeatMs;
    var since = c.shareSince;
    c.shareSince = '';
    this.follow(c, String(d.cursor));
    c._emit('open', { transport: d.transport, cursor: d.cursor, heartbeatMs: d.heartbeatMs });
    if (since && c.state === 'open') this.catchUp(c, since);
  };

  /** The stream's cursor becomes the member's, unless it is still catching up to it. */
  gp.follow = function (c, cursor) {
    if (c.state !== 'closed' && !c.shareCatch) proto._setCursor.call(c, cursor);
  };

  /**
   * A member whose own cursor is older than the stream it joined: one poll, answered at
   * once, fetches what the server has after that cursor for the member's channels. The
   * relay meanwhile is held back (gp.message); it follows the gap, repeats dropped.
   */
  gp.catchUp = function (c, since) {
    var g = this;
    var id = 'join' + (++pollSeq);
    var el = pollScript(c);
    var job = { buf: c.shareCatch ? c.shareCatch.buf : [] };
    var timer = null;
    c.shareCatch = job;
    proto._setCursor.call(c, since);
    function done(a) {
      window.clearTimeout(timer);
      el.onload = el.onerror = el.onreadystatechange = null;
      pollCallbacks[id] = ignore; // a removed script may still run
      try { if (el.parentNode) el.parentNode.removeChild(el); } catch (e) { /* gone */ }
      if (c.shareCatch !== job) return;
      c.shareCatch = null;
      if (c.state !== 'closed') g.caughtUp(c, a, job.buf);
    }
    timer = window.setTimeout(function () {
      done(null);
    }, c.openTimeoutMs);
    pollCallbacks[id] = function (a) {
      done(a && typeof a === 'object' ? a : null);
    };
    // onload runs after the script: one that did not call back failed.
    el.onload = el.onerror = function () {
      done(null);
    };
    el.onreadystatechange = function () {
      if (/^(loaded|complete)$/.test(el.readyState)) done(null);
    };
    el.src = endpoint(c, 'poll', '&open=1' + pollQuery(c, id));
    scriptParent().appendChild(el);
  };

  /** The gap (or, without one, a reset for all the member's channels), then the held relay. */
  gp.caughtUp = function (c, a, buf) {
    var seen = {};
    var i, ch, key;
    if (!a || a.error || typeof a.reconnect === 'number' || !isArray(a.messages)) {
      c._reset(c.channels.slice(0)); // never a silent gap
    } else {
      if (isArray(a.resets) && a.resets.length) this.reset(c, a.resets);
      for (i = 0; i < a.messages.length && c.state === 'open'; i++) {
        var m = a.messages[i];
        ch = String(m[0]);
        if (!matchesAny(c.channels, ch)) continue;
        key = '$' + ch;
        (hasOwn.call(seen, key) ? seen[key] : (seen[key] = [])).push(String(m[1]));
        c._message(ch, String(m[1]), m.length > 3 ? textData(m[3]) : m[2]);
      }
    }
    for (i = 0; i < buf.length && c.state === 'open'; i++) {
      var b = buf[i];
      if (b.x) {
        this.reset(c, b.x);
        continue;
      }
      key = '$' + b.c;
      if (!hasOwn.call(seen, key) || indexOf(seen[key], b.i) === -1) c._message(b.c, b.i, b.d);
    }
    // It now has all the relay brought: from here on it follows the stream's cursor.
    if (c.state !== 'closed') proto._setCursor.call(c, this._cursorString());
  };

  gp.transport = function (c, name) {
    if (c.state === 'closed' || c.transport === name) return;
    c.transport = name;
    c._emit('transport', { name: name });
  };

  gp.reset = function (c, channels) {
    if (c.state === 'closed') return;
    var mine = [];
    for (var i = 0; i < channels.length; i++) {
      if (indexOf(c.channels, channels[i]) !== -1 || matchesAny(c.channels, channels[i])) mine.push(channels[i]);
    }
    if (mine.length) c._reset(mine);
  };

  /** One relayed message: once per tab, to the facades whose own channels match. */
  gp.message = function (list, channel, id, data) {
    var ids = hasOwn.call(this.recent, channel) ? this.recent[channel] : (this.recent[channel] = []);
    if (indexOf(ids, id) !== -1) return;
    ids.push(id);
    if (ids.length > RECENT_IDS) ids.shift();
    this._see(channel, id);
    for (var i = 0; i < list.length; i++) {
      var c = list[i];
      if (c.shareOpened && c.state !== 'closed' && c.state !== 'suspended' && matchesAny(c.channels, channel)) {
        if (c.shareCatch) c.shareCatch.buf.push({ c: channel, i: id, d: data });
        else c._message(channel, id, data);
      }
    }
  };

  /**
   * A follower that hears nothing from the leader for two heartbeat intervals plus the
   * longest backoff takes over: the leader relays every frame, heartbeats included, so
   * its tab is frozen or hung. (Closing, crashing and navigating release the lock at
   * once; this timer is only for the frozen case.)
   */
  gp.watch = function () {
    var g = this;
    if (g.watchTimer || g.closed) return;
    var first = g.local[0];
    if (!first) return;
    var limit = 2 * first.heartbeatMs + first.backoffMaxMs;
    g.watchTimer = window.setTimeout(function () {
      g.watchTimer = null;
      if (g.closed) return;
      var quiet = now() - g.heardAt;
      if (g.leading) {
        g.renew();
      } else if (g.store) {
        g.claimLease(); // takes the lease only once it has run out
      } else if (quiet >= limit && g.wanted()) {
        g.heardAt = now();
        g.request(true);
      }
      g.watch();
    }, g.store ? Math.min(limit, 1000) : limit);
  };

  gp._setCursor = proto._setCursor;
  gp._see = proto._see;
  gp._cursorString = proto._cursorString;

  /** The share key: the server's absolute URL, the transport ladder, the extra parameters. */
  function shareKey(c) {
    var m = /^([a-zA-Z][a-zA-Z0-9+.\-]*:)?\/\/[^\/?#]*(.*)$/.exec(c.url);
    var key = c.origin + (m ? m[2] : c.url) + '|' + c.ladder.join(',') + '|' + c.documentDomain;
    for (var k in c.params) if (hasOwn.call(c.params, k)) key += '&' + k + '=' + c.params[k];
    return key;
  }

  function onLeaseEvent(ev) {
    ev = ev || window.event;
    if (!ev || typeof ev.key !== 'string' || ev.key.substring(0, SHARE_PREFIX.length) !== SHARE_PREFIX) return;
    for (var key in groups) {
      if (!hasOwn.call(groups, key)) continue;
      var g = groups[key];
      if (!g.store || ev.key !== g.leaseSlot()) continue;
      var l = null;
      try { l = ev.newValue ? parseJson(ev.newValue) : null; } catch (e) { /* ignore */ }
      if (g.leading) g.onLease(l);
      else if (!l) g.claimLease();
    }
  }

  var leaseHooked = false;

  /**
   * Turns a new connection into a facade of its tab's group for its server, when the
   * browser has a way to share; returns false (the connection streams on its own) when not.
   */
  function share(c, options) {
    var key = shareKey(c);
    var g = hasOwn.call(groups, key) ? groups[key] : null;
    if (!g) {
      var bus = null;
      var receiveFn = function (msg) {
        if (g) g.receive(msg);
      };
      var locks = webLocks();
      var store = locks ? null : localStore();
      if (!locks && !store) return false;
      bus = openBus(key, receiveFn);
      if (!bus) return false;
      g = new Group(key, bus, locks, store);
      groups[key] = g;
      if (store && !leaseHooked) {
        leaseHooked = true;
        addListener(window, 'storage', onLeaseEvent);
      }
    }
    c.memberId = tabId + '.' + (++memberSeq);
    c.shareOptions = options;
    c.shareOpened = false;
    c._start = function () {
      if (c.state === 'closed') return;
      if (!c.channels.length) {
        c.state = 'idle';
        g.send({ k: 'bye', m: c.memberId });
        return;
      }
      c.state = 'connecting';
      if (g.closed) {
        // The tab's group was shut (the page was hidden, then shown again).
        if (!share(c, options)) return;
        c._start();
        return;
      }
      g.join(c);
    };
    c._suspend = function () {
      if (c.state === 'closed') return;
      proto._suspend.call(c);
      c.shareOpened = false;
      g.leave(c);
    };
    c.close = function () {
      if (c.state === 'closed') return;
      g.leave(c);
      proto.close.call(c);
    };
    return true;
  }


  // ---------------------------------------------------------------- the global

  var Pushframe = {
    version: VERSION,

    /** Opens one stream for the given channels; see docs/bridge.md. */
    connect: function (options) {
      var c = new Connection(options);
      // The one hook of tab sharing: unless opted out, the connection becomes a facade.
      if (!options || options.share !== false) share(c, options || {});
      return c;
    },

    listen: listen,
    unlisten: unlisten,

    /** Called by a same-origin stream document: its callbacks, or null when stale. */
    _frame: function (id) {
      var s = hasOwn.call(frames, id) ? frames[id] : null;
      return s && !s.dead && !s.cross ? s.sink : null;
    },

    _transports: transports,
    _poll: pollCallbacks
  };

  window.Pushframe = Pushframe;
}(this));
