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
    function onLoad() { stream.ended(stream.cross_ ? null : refusal(iframe)); }
    addListener(iframe, 'load', onLoad);
    return {
      iframe: iframe,
      /**
       * A same-origin stream document that is no longer `loading` has been cut: Firefox
       * moves it to `interactive` without a load event. Only the stream's own document
       * counts (its URL carries the frame id), not the blank one before it.
       */
      finished: function () {
        if (stream.cross_) return false;
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
      return !conn.cross_ || !!window.postMessage;
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
      return !conn.cross_ && AXO in window;
    },
    start: function (stream) {
      var Host = window[AXO];
      var doc = new Host('htmlfile');
      var domain = stream.conn_.documentDomain;
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

