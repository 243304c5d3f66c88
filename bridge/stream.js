  // ---------------------------------------------------------------- one stream

  /** One attempt on one transport; the frame id keeps stale frames out. */
  function Stream(conn, transport) {
    this.conn_ = conn;
    this.transport = transport;
    this.id = 'f' + (++frameSeq) + '_' + Math.floor(Math.random() * 2176782336).toString(36);
    this.cross_ = conn.cross_;
    this.origin = conn.origin;
    this.dead_ = false;
    this.endTimer_ = null;
    this.opened_ = false;
    this.handle_ = null;
    this.sink = makeSink(this);
  }

  Stream.prototype.url = function (type) {
    var c = this.conn_;
    var q = '&t=' + type + '&f=' + this.id;
    if (c.cross_) q += '&origin=' + encodeURIComponent(pageOrigin());
    if (c.documentDomain) q += '&d=' + encodeURIComponent(c.documentDomain);
    return this.endpoint('stream', q + this.replacing());
  };

  /**
   * `&replaces=` and the token of the last stream that opened on this connection: the
   * server ends that stream if it still holds it (a path that died keeps it there for
   * minutes, with its share of the browser's streams).
   */
  Stream.prototype.replacing = function () {
    var token = this.conn_.replaces_;
    return token ? '&replaces=' + encodeURIComponent(token) : '';
  };

  Stream.prototype.endpoint = function (path, extra) {
    return this.conn_.endpoint_(path, extra);
  };

  /** `{url}/{path}?channels=...&since=<cursor now>` + extra + token and user params. */
  function endpoint(c, path, extra, noCursor) {
    var q = 'channels=' + encodeURIComponent(c.channels.join(','));
    var since = noCursor ? '' : c.cursorString_();
    if (since) q += '&since=' + encodeURIComponent(since);
    q += extra;
    if (c.token) q += '&token=' + encodeURIComponent(c.token);
    for (var k in c.params) {
      if (hasOwn.call(c.params, k)) q += '&' + encodeURIComponent(k) + '=' + encodeURIComponent(c.params[k]);
    }
    return c.url + '/' + path + '?' + q;
  }

  Stream.prototype.contentWindow = function () {
    return this.handle_ && this.handle_.contentWindow ? this.handle_.contentWindow() : null;
  };

  /**
   * The transport saw the stream end. A cross-origin frame's last callbacks (its p.r,
   * say) are posted messages that may be dispatched after the frame's load event, so
   * they get a moment to arrive before the end counts as a failure.
   */
  Stream.prototype.ended = function (refused) {
    var self = this;
    if (self.dead_ || self.endTimer_) return;
    if (refused && !self.opened_) {
      self.dead_ = true;
      self.conn_.serverError_(self, refused.code, refused.message);
      return;
    }
    self.endTimer_ = window.setTimeout(function () {
      self.endTimer_ = null;
      if (self.dead_) return;
      self.dead_ = true;
      self.conn_.failed_(self, 'disconnected', 'The stream ended unexpectedly.');
    }, self.cross_ ? POSTED_GRACE_MS : 0);
  };

  Stream.prototype.stop = function () {
    this.dead_ = true;
    if (this.endTimer_) window.clearTimeout(this.endTimer_);
    this.endTimer_ = null;
    if (frames[this.id] === this) delete frames[this.id];
    var h = this.handle_;
    this.handle_ = null;
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
    var conn = stream.conn_;
    var own = !stream.cross_; // same-origin values come from the frame's realm

    function live() {
      if (stream.dead_ || conn.stream_ !== stream) return false;
      conn.lastFrame_ = now();
      return true;
    }

    return {
      o: function (cursor, heartbeatMs, token) {
        if (!live()) return;
        conn.opened_(stream, String(cursor), Number(heartbeatMs), token ? String(token) : '');
      },
      m: function () {
        var a = arguments;
        for (var i = 0; i + 2 < a.length; i += 3) {
          if (!live()) return;
          conn.message_(String(a[i]), String(a[i + 1]), own ? adopt(a[i + 2], 0) : a[i + 2]);
        }
      },
      // Messages whose data is JSON text, parsed here (it has a `__proto__` key).
      j: function () {
        var a = arguments;
        for (var i = 0; i + 2 < a.length; i += 3) {
          if (!live()) return;
          conn.message_(String(a[i]), String(a[i + 1]), textData(a[i + 2]));
        }
      },
      x: function () {
        if (!live()) return;
        var list = [];
        for (var i = 0; i < arguments.length; i++) list.push(String(arguments[i]));
        conn.reset_(list);
      },
      c: function (cursor) {
        if (!live()) return;
        conn.setCursor_(String(cursor));
      },
      h: function () {
        if (live()) conn.beat_();
      },
      r: function (delayMs) {
        if (!live()) return;
        stream.dead_ = true;
        conn.serverEnded_(stream);
        var delay = Number(delayMs);
        conn.recycle_(stream, delay >= 0 ? delay : 0);
      },
      e: function (code, message) {
        if (!live()) return;
        stream.dead_ = true;
        conn.serverEnded_(stream);
        conn.serverError_(stream, String(code), String(message));
      }
    };
  }
