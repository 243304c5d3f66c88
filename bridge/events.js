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
