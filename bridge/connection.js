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
