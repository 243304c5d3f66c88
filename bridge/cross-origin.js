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
    if (!stream || !stream.cross_ || stream.origin !== ev.origin) return;
    var win = stream.contentWindow();
    if (ev.source && win && ev.source !== win) return;
    var sink = stream.sink;
    if (!hasOwn.call(sink, letter)) return;
    var args;
    try { args = parseJson(rest.substring(bar + 3)); } catch (e) { return; }
    if (!isArray(args)) return;
    sink[letter].apply(sink, args);
  }
