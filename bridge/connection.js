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

  /**
   * Calls fn once the script running now has returned (a frame's own call stack
   * included). A promise's reaction where there are promises: browsers hold a
   * background tab's timers to one a second, and a background tab may hold the stream
   * of every tab of the page. A zero-delay timer elsewhere.
   */
  function afterScript(fn) {
    var P = window.Promise;
    if (typeof P === 'function' && typeof P.resolve === 'function') P.resolve().then(fn);
    else window.setTimeout(fn, 0);
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
    this.cross_ = this.origin !== pageOrigin() && !this.documentDomain;
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
    this.reprobeDelay_ = this.reprobeMs;
    this.probeTimer_ = null;
    this.probeFrom_ = -1; // the polling rung a probe of the streams came from
    this.pathCheckMs = positive(options, 'pathCheckMs');
    this.streamed_ = false;     // a stream opened on this path since it last died: no path check
    this.replaces_ = '';        // the last opened stream's token (until the server ends it): the next one replaces it
    this.positionDone_ = null;  // drops a pending path-check poll
    this.pathTimer_ = null;

    this.ladder_ = [];
    var names = splitList(option(options, 'transports'));
    for (var t = 0; t < names.length; t++) {
      var tr = hasOwn.call(transports, names[t]) ? transports[names[t]] : null;
      if (tr && tr.supported(this) && indexOf(this.ladder_, names[t]) === -1) this.ladder_.push(names[t]);
    }
    this.rung_ = 0;
    this.failures_ = 0;  // attempts on this rung that never opened
    this.attempt_ = 0;   // consecutive failures, for backoff
    this.transport = null;
    this.state = 'connecting';

    this.cursorHead_ = '';
    this.cursorSeen_ = {};
    this.cursorOrder_ = [];
    if (options.since) this.setCursor_(String(options.since));

    this.handlers_ = [];
    this.listeners_ = {};
    this.stream_ = null;
    this.lastFrame_ = 0;
    this.timer_ = null;
    this.soon_ = null; // what runs once the current script has returned (later_), cancelled with the timers
    this.watchdog_ = null;
    this.watchLimit_ = 0;

    if (this.documentDomain) document.domain = this.documentDomain;
    connections.push(this);
    hook();
    // Streams start after the page's load event: a frame started before it holds
    // the page's onload and busy indicator until the stream ends. After load (a click
    // handler, a script added later) the stream starts at once.
    if (pageReady()) this.schedule_(0);
  }

  var proto = Connection.prototype;

  // -- public API

  /** Calls fn(data, meta) for messages on a channel, a pattern (`a/*`, `a/**`) or every channel (`*`). */
  proto.on = function (pattern, fn) {
    if (typeof fn === 'function') this.handlers_.push({ pattern: String(pattern), fn: fn });
    return this;
  };

  /** Removes fn from pattern; without fn every handler of pattern; without arguments all. */
  proto.off = function (pattern, fn) {
    for (var i = this.handlers_.length - 1; i >= 0; i--) {
      var h = this.handlers_[i];
      if ((pattern === undefined || h.pattern === String(pattern)) && (!fn || h.fn === fn)) this.handlers_.splice(i, 1);
    }
    return this;
  };

  /** Lifecycle events: open, message, reset, transport, error, close. */
  proto.listen = function (name, fn) {
    if (!hasOwn.call(LIFECYCLE, name)) throw new Error('pushframe: no lifecycle event "' + name + '"');
    if (typeof fn === 'function') (this.listeners_[name] || (this.listeners_[name] = [])).push(fn);
    return this;
  };

  proto.unlisten = function (name, fn) {
    var list = this.listeners_[name];
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
    if (changed) this.reopen_();
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
    if (changed) this.reopen_();
    return this;
  };

  /** The resume cursor: what this connection already has. */
  proto.cursor = function () {
    return this.cursorString_();
  };

  proto.close = function () {
    if (this.state === 'closed') return;
    this.cancelProbe_();
    if (this.positionDone_) this.positionDone_();
    if (this.pathTimer_) window.clearTimeout(this.pathTimer_);
    this.halt_();
    this.state = 'closed';
    var at = indexOf(connections, this);
    if (at !== -1) connections.splice(at, 1);
    unhook();
    this.emit_('close', {});
    this.handlers_ = [];
    this.listeners_ = {};
  };

  // -- cursor

  // The server's last cursor (from p.o or a checkpoint, p.c, which it sends often
  // enough that few channels gather here) plus the last id seen per channel since.
  proto.setCursor_ = function (text) {
    var parts = text.split(',');
    this.cursorHead_ = parts[0];
    this.cursorSeen_ = {};
    this.cursorOrder_ = [];
    for (var i = 1; i < parts.length; i++) {
      var at = parts[i].lastIndexOf('@');
      if (at > 0) this.see_(parts[i].substring(0, at), parts[i].substring(at + 1));
    }
  };

  // Ids stay opaque: the server delivers each channel in order and never twice,
  // so the latest one received is the one to resume from. Keys carry a prefix so that
  // channels named `__proto__`, `constructor` or `hasOwnProperty` are ordinary keys.
  proto.see_ = function (channel, id) {
    var key = '$' + channel;
    if (!hasOwn.call(this.cursorSeen_, key)) this.cursorOrder_.push(channel);
    this.cursorSeen_[key] = id;
  };

  proto.cursorString_ = function () {
    if (!this.cursorHead_) return '';
    var out = this.cursorHead_;
    for (var i = 0; i < this.cursorOrder_.length; i++) {
      out += ',' + this.cursorOrder_[i] + '@' + this.cursorSeen_['$' + this.cursorOrder_[i]];
    }
    return out;
  };

  // -- events

  proto.emit_ = function (name, detail) {
    var list = this.listeners_[name];
    if (list) {
      list = list.slice(0);
      for (var i = 0; i < list.length; i++) {
        try { list[i].call(this, detail); } catch (err) { report(err); }
      }
    }
    dispatch(byId(this.target) || document, EVENT_PREFIX + name, detail);
  };

  proto.message_ = function (channel, id, data) {
    this.see_(channel, id);
    var meta = { channel: channel, id: id };
    var list = this.handlers_.slice(0);
    for (var i = 0; i < list.length; i++) {
      if (matches(list[i].pattern, channel)) {
        try { list[i].fn.call(this, data, meta); } catch (err) { report(err); }
      }
    }
    var lc = this.listeners_.message;
    if (lc) {
      lc = lc.slice(0);
      for (var j = 0; j < lc.length; j++) {
        try { lc[j].call(this, data, meta); } catch (err2) { report(err2); }
      }
    }
    dispatch(byId(this.target) || document, EVENT_PREFIX + 'message', { channel: channel, id: id, data: data });
  };

  // -- stream management

  proto.clearTimers_ = function () {
    if (this.timer_) window.clearTimeout(this.timer_);
    if (this.watchdog_) window.clearTimeout(this.watchdog_);
    this.timer_ = this.watchdog_ = this.soon_ = null;
  };

  /** Runs fn once the current script has returned, unless the timers are cleared first. */
  proto.later_ = function (fn) {
    var self = this;
    var turn = (self.soon_ = {});
    afterScript(function () {
      if (self.soon_ !== turn) return; // closed, suspended, or rescheduled meanwhile
      self.soon_ = null;
      fn();
    });
  };

  proto.halt_ = function () {
    this.clearTimers_();
    var s = this.stream_;
    this.stream_ = null;
    if (s) s.stop();
  };

  /**
   * Starts a stream after delay ms (never from inside a frame's own call stack). The
   * first start after connect() or load is on a timer even with no delay, so that it
   * comes after the load event has been dispatched (see pageReady).
   */
  proto.schedule_ = function (delay) {
    var self = this;
    if (self.state === 'closed') return;
    if (self.timer_) window.clearTimeout(self.timer_);
    self.soon_ = null; // one start pending at a time: the newest
    self.timer_ = window.setTimeout(function () {
      self.timer_ = null;
      self.start_();
    }, delay);
  };

  /**
   * Starts a stream once the running script has returned, not on a timer: a hidden
   * tab's timers wait a second or more, and that tab may hold every tab's stream. For
   * the starts that follow the first (a switch of transport, a new subscription).
   */
  proto.startSoon_ = function () {
    var self = this;
    if (self.state === 'closed') return;
    if (self.timer_) window.clearTimeout(self.timer_);
    self.timer_ = null;
    self.later_(function () {
      self.start_();
    });
  };

  /** A start already scheduled happens now. */
  proto.startNow_ = function () {
    if (!this.timer_ && !this.soon_) return;
    this.clearTimers_();
    this.start_();
  };

  proto.suspend_ = function () {
    if (this.state === 'closed') return;
    this.halt_();
    this.state = 'suspended';
  };

  proto.reopen_ = function () {
    if (this.state === 'closed') return;
    this.halt_();
    if (pageReady()) this.startSoon_();
  };

  proto.start_ = function () {
    if (this.state === 'closed' || !pageReady()) return;
    this.halt_();
    if (!this.channels.length) {
      this.state = 'idle';
      return;
    }
    var name = this.ladder_[this.rung_];
    if (!name) {
      this.emit_('error', { code: 'no_transport', message: 'No transport of this browser can reach the server.' });
      this.close();
      return;
    }
    if (name !== this.transport) {
      this.transport = name;
      this.emit_('transport', { name: name });
      if (this.state === 'closed') return;
    }
    var stream = new Stream(this, name);
    this.stream_ = stream;
    this.state = 'connecting';
    frames[stream.id] = stream;
    this.lastFrame_ = now();
    this.watch_(stream, this.openTimeoutMs);
    this.checkPath_(stream);
    try {
      stream.handle_ = transports[name].start(stream);
    } catch (err) {
      // This browser cannot host the transport after all (e.g. ActiveX disabled).
      this.halt_();
      this.failures_ = this.fallbackAfter;
      this.emit_('error', { code: 'transport_failed', message: 'The ' + name + ' transport could not start.' });
      this.fallback_(stream, this.backoff_());
    }
  };

  /**
   * The watchdog: a stream that shows nothing for `limit` ms is dead. Before it opened
   * that is a `timeout` (nothing ever came: a dead path or a buffering proxy); after, a
   * `stalled` stream (a cut or frozen path, a crashed server), which only bytes reveal
   * in Chromium. The time is the wall clock's, so a check after the machine slept sees
   * the whole silence.
   */
  proto.watch_ = function (stream, limit) {
    this.watchLimit_ = limit;
    this.arm_(stream);
  };

  proto.arm_ = function (stream) {
    var self = this;
    if (self.watchdog_) window.clearTimeout(self.watchdog_);
    var left = self.lastFrame_ + self.watchLimit_ - now();
    self.watchdog_ = window.setTimeout(function () {
      self.watchdog_ = null;
      self.expire_(stream, '');
    }, left > 0 ? left : 0);
  };

  /** Fails the stream if it has been quiet for the limit, else waits for the rest. */
  proto.expire_ = function (stream, why) {
    if (this.stream_ !== stream || stream.dead_ || this.state === 'closed') return;
    var quiet = now() - this.lastFrame_;
    if (quiet < this.watchLimit_) {
      this.arm_(stream);
      return;
    }
    var message = 'No data from the server for ' + quiet + ' ms' + why + '.';
    if (stream.opened_) this.failed_(stream, 'stalled', message);
    // An attempt the machine slept through says nothing about proxies: just retry.
    else if (why) this.replace_('timeout', message);
    else this.failed_(stream, 'timeout', message);
  };

  /** How long an open stream may stay silent: the announced interval plus the grace. */
  proto.limit_ = function (intervalMs) {
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
  proto.check_ = function (why, gapMs) {
    if (this.state === 'closed' || this.state === 'suspended') return;
    var s = this.stream_;
    if (!s || s.dead_) {
      if ((why === 'online' || why === 'wake') && !s && this.timer_ && this.state === 'reconnecting') {
        this.attempt_ = 0;
        this.startSoon_();
      }
      return;
    }
    if (why === 'online') {
      this.replace_('network_changed', 'The browser came back online; the stream is replaced.');
      return;
    }
    if (s.opened_ && s.handle_ && s.handle_.finished && s.handle_.finished()) {
      s.ended(null);
      return;
    }
    if (why !== 'pulse') this.expire_(s, why === 'wake' ? ' (timers stopped for ' + gapMs + ' ms: the machine slept)' : '');
  };

  /** Drops the current stream and starts another soon, as after a first failure. */
  proto.replace_ = function (code, message) {
    this.halt_();
    this.emit_('error', { code: code, message: message });
    if (this.state === 'closed') return;
    this.streamed_ = false; // another network, or a sleep: the path is to be proven again
    this.attempt_ = 0;
    this.state = 'reconnecting';
    this.schedule_(this.backoff_());
  };

  proto.opened_ = function (stream, cursor, heartbeatMs, token) {
    stream.opened_ = true;
    this.replaces_ = token;
    if (!transports[stream.transport].polling) this.streamed_ = true;
    this.state = 'open';
    this.failures_ = 0;
    this.attempt_ = 0;
    if (heartbeatMs > 0) this.heartbeatMs = heartbeatMs;
    this.setCursor_(cursor);
    this.watch_(stream, this.limit_(this.heartbeatMs));
    if (transports[stream.transport].polling) {
      this.planProbe_();
    } else {
      // Streaming works (again): the next fall to polling probes soon.
      this.probeFrom_ = -1;
      this.reprobeDelay_ = this.reprobeMs;
    }
    this.emit_('open', { transport: stream.transport, cursor: cursor, heartbeatMs: this.heartbeatMs });
  };

  proto.endpoint_ = function (path, extra) {
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
   * connection falls to long-poll. Sent until a stream opens, and again after an open
   * stream's path died. No polling rung below: nothing to decide.
   */
  proto.checkPath_ = function (stream) {
    var self = this;
    if (transports[stream.transport].polling) return;
    var pollRung = false;
    for (var r = self.rung_ + 1; r < self.ladder_.length; r++) if (transports[self.ladder_[r]].polling) pollRung = true;
    if (!pollRung) return;
    var wantPosition = !self.cursorHead_;
    if (self.streamed_ && !wantPosition) return;
    if (self.positionDone_) self.positionDone_();
    var id = 'pos' + (++pollSeq);
    var sent = now();
    self.positionDone_ = jsonp(self, id, endpoint(self, 'poll', pollQuery(self, id), true), function (a) {
      self.positionDone_ = null;
      if (self.state === 'closed' || !a) return;
      if (!self.cursorHead_ && a.cursor) self.setCursor_(String(a.cursor));
      if (self.streamed_ || self.stream_ !== stream || stream.dead_ || stream.opened_) return;
      var took = now() - sent;
      var grace = Math.max(self.pathCheckMs, 2 * took);
      if (self.pathTimer_) window.clearTimeout(self.pathTimer_);
      self.pathTimer_ = window.setTimeout(function () {
        self.pathTimer_ = null;
        if (self.stream_ !== stream || stream.dead_ || stream.opened_) return;
        self.failed_(stream, 'timeout', 'A poll was answered in ' + took + ' ms but the stream showed nothing ' +
          grace + ' ms later: something on the way buffers streams.');
      }, grace);
    }, function () {
      self.positionDone_ = null;
    });
  };

  /** The cursor of a poll answer: the server's view of what this connection has. */
  proto.position_ = function (stream, cursor) {
    if (this.stream_ === stream && !stream.dead_) this.setCursor_(cursor);
  };

  /** On a polling rung below streaming ones: try streaming again later. */
  proto.planProbe_ = function () {
    var self = this;
    if (self.probeTimer_ || self.rung_ === 0 || !(self.reprobeDelay_ > 0)) return;
    self.probeTimer_ = window.setTimeout(function () {
      self.probeTimer_ = null;
      if (self.state === 'closed' || !transports[self.ladder_[self.rung_]].polling) return;
      self.probeFrom_ = self.rung_;
      self.rung_ = 0;
      self.failures_ = 0;
      self.reopen_();
    }, self.reprobeDelay_);
  };

  proto.cancelProbe_ = function () {
    if (this.probeTimer_) window.clearTimeout(this.probeTimer_);
    this.probeTimer_ = null;
  };

  /** A heartbeat frame arrived (tab sharing relays it as the leader's sign of life). */
  proto.beat_ = function () {};

  proto.reset_ = function (channels) {
    this.emit_('reset', { channels: channels });
  };

  proto.backoff_ = function () {
    var d = this.backoffMinMs * Math.pow(2, Math.min(this.attempt_, 30));
    if (d > this.backoffMaxMs) d = this.backoffMaxMs;
    this.attempt_++;
    // Equal jitter: at least half the delay, so a crowd of clients spreads out.
    return Math.round(d / 2 + Math.random() * d / 2);
  };

  /** A failed attempt: count it against the transport if it never opened, then retry. */
  proto.fallback_ = function (stream, delay) {
    if (!stream.opened_ && this.probeFrom_ >= 0) {
      // The probe found streaming still blocked: back to polling at once, probe later.
      this.rung_ = this.probeFrom_;
      this.probeFrom_ = -1;
      this.failures_ = 0;
      this.attempt_ = 0;
      this.reprobeDelay_ = Math.min(this.reprobeDelay_ * 2, this.reprobeMaxMs);
      this.state = 'reconnecting';
      this.startSoon_();
      return;
    }
    if (!stream.opened_) this.failures_++;
    if (this.failures_ >= this.fallbackAfter && this.rung_ < this.ladder_.length - 1) {
      this.rung_++;
      this.failures_ = 0;
      this.attempt_ = 0;
      delay = 0;
    }
    this.state = 'reconnecting';
    if (delay > 0) this.schedule_(delay);
    else this.startSoon_();
  };

  proto.failed_ = function (stream, code, message) {
    if (this.stream_ !== stream || this.state === 'closed') return;
    this.halt_();
    this.emit_('error', { code: code, message: message });
    if (this.state === 'closed') return;
    // A path that carried a stream died: the next stream has to prove the path again (a
    // network that changed may now hold streams back).
    if (code === 'stalled') this.streamed_ = false;
    if (code === 'timeout' && !stream.opened_ && this.probeFrom_ < 0) this.skipToPolling_();
    this.fallback_(stream, this.backoff_());
  };

  /**
   * Not one byte of a stream within the open deadline: the signature of a proxy that
   * holds responses until they complete. Other streams would fare the same, so the
   * next attempt is the first polling rung (the failure counted in _fallback moves there).
   */
  proto.skipToPolling_ = function () {
    for (var r = this.rung_ + 1; r < this.ladder_.length; r++) {
      if (transports[this.ladder_[r]].polling) {
        this.rung_ = r - 1;
        this.failures_ = this.fallbackAfter;
        return;
      }
    }
  };

  /** The server ended `stream` itself (p.r, p.e): no later request needs to replace it. */
  proto.serverEnded_ = function (stream) {
    if (stream.opened_ && this.stream_ === stream) this.replaces_ = '';
  };

  proto.recycle_ = function (stream, delay) {
    var self = this;
    self.clearTimers_();
    self.state = 'reconnecting';
    // Tear the frame down once its script has returned, then come back with the cursor.
    self.later_(function () {
      if (self.stream_ === stream) self.halt_();
      if (delay > 0) self.schedule_(delay);
      else self.start_();
    });
  };

  proto.serverError_ = function (stream, code, message) {
    var self = this;
    self.clearTimers_();
    if (code === 'shutting_down') {
      // A node in a planned restart: not an error for the page, just somewhere else to go.
      self.recycle_(stream, Math.round(self.backoffMinMs / 2 + Math.random() * self.backoffMinMs / 2));
      return;
    }
    // Once the frame's script has returned: not on a timer, which a hidden tab holds back.
    self.later_(function () {
      if (self.stream_ !== stream) return;
      self.halt_();
      self.emit_('error', { code: code, message: message });
      if (self.state === 'closed') return;
      if (hasOwn.call(FATAL, code)) {
        self.close();
        return;
      }
      if (code === 'bad_cursor') {
        // The cursor cannot be used: start afresh, and tell the page it may have a gap.
        var had = self.channels.slice(0);
        self.setCursor_('');
        self.cursorHead_ = '';
        self.reset_(had);
      }
      self.state = 'reconnecting';
      self.schedule_(self.backoff_());
    });
  };
