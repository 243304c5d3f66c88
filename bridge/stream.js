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
