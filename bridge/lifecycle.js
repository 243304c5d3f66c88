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
      if (!list[i].stream_ && !list[i].timer_ && list[i].state === 'connecting') list[i].schedule_(0);
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
      if (keep) list[i].suspend_();
      else list[i].close();
    }
    // A page in the back-forward cache keeps no timer running.
    if (keep) stopPulse();
  }

  function onPageShow(ev) {
    if (!ev || !ev.persisted) return;
    if (hooked) startPulse();
    var list = connections.slice(0);
    for (var i = 0; i < list.length; i++) if (list[i].state === 'suspended') list[i].schedule_(0);
  }

  function checkAll(why, detail) {
    var list = connections.slice(0);
    for (var i = 0; i < list.length; i++) list[i].check_(why, detail);
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
