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
      return s && !s.dead_ && !s.cross_ ? s.sink : null;
    },

    _transports: transports,
    _poll: pollCallbacks
  };
