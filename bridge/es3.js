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
