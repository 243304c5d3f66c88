/*!
 * pushframe bridge, protocol version 1 (docs/protocol.md, docs/bridge.md).
 *
 * Plain ES3: runs unchanged in IE6+ and every modern browser. One IIFE, one global
 * (`Pushframe`), feature detection only. Turns the server's forever-frame callbacks
 * into connection callbacks and DOM events.
 *
 * Generated: assembled from bridge/*.js by scripts/build-bridge.ts (`npm run build`).
 */
(function (window) {
  var document = window.document;

  // Loaded twice: the first copy owns the live frames, so it stays.
  if (window.Pushframe && window.Pushframe.version) return;

  var VERSION = 1;
  var EVENT_PREFIX = 'pushframe:';
  var WIRE_PREFIX = 'pushframe|';
  var LIFECYCLE = { open: 1, message: 1, reset: 1, transport: 1, error: 1, close: 1 };
  // Split so that filters scanning scripts for the word do not trip (as SockJS does).
  var AXO = ['Active', 'Object'].join('X');

  var DEFAULTS = {
    url: '/pushframe',
    transports: ['htmlfile', 'iframe', 'longpoll'],
    // A stream is stalled after the interval the server announced (its heartbeat, or how
    // long it holds a poll) plus this much silence: the server never stays silent longer
    // than its interval, and the grace absorbs network and timer jitter. With the
    // server's 4 s heartbeat a dead stream is noticed within 6 s (docs/bridge.md).
    stallGraceMs: 2000,
    // Used until p.o announces the server's interval.
    heartbeatMs: 4000,
    // No p.o within this long: the path is dead or a proxy buffers the stream. Usually
    // decided much sooner: see pathCheckMs.
    openTimeoutMs: 10000,
    // A stream not yet proven on this connection starts with one poll beside it, answered
    // at once. When that complete answer arrives and the stream's first frame has not
    // followed within max(pathCheckMs, 2x the poll's time), something on the path holds
    // streams back (a buffering proxy): fall to long-poll then, not after openTimeoutMs.
    // A slow but unbuffered link is slow for the poll as well and gets longer.
    pathCheckMs: 1000,
    backoffMinMs: 1000,
    backoffMaxMs: 30000,
    // Failed attempts (none of which opened) before trying the next transport.
    fallbackAfter: 2,
    // After falling back to polling, try streaming again this long later (doubling
    // after each failed probe up to reprobeMaxMs): networks and proxies change.
    reprobeMs: 60000,
    reprobeMaxMs: 1800000
  };

  // How long posted callbacks of a cross-origin frame may trail its load event.
  var POSTED_GRACE_MS = 500;

  // The pulse: how often the page looks at its streams (a same-origin frame whose
  // document stopped loading has ended, even without a load event), and the gap between
  // two pulses that means timers were stopped: the machine slept (or a hidden tab was
  // throttled, which the checks tolerate).
  var PULSE_MS = 1000;
  var WAKE_GAP_MS = 3000;

  // Error codes after which retrying cannot help (src/errors.ts).
  var FATAL = {
    bad_request: 1, bad_channel: 1, bad_pattern: 1, bad_origin: 1, bad_grant: 1,
    too_many_channels: 1, unauthorized: 1, not_found: 1, header_too_large: 1, unknown_host: 1
  };

  var hasOwn = Object.prototype.hasOwnProperty;
  var toStr = Object.prototype.toString;

  var frameSeq = 0;
  var frames = {};        // frame id -> Stream, for every live stream
  var connections = [];   // live connections (also keeps htmlfile hosts referenced)
  var registry = [];      // legacy DOM-event listeners: { node, type, fn }
  var pageLoaded = false; // the page's load event has passed (see pageReady)
  var hooked = false;     // page-level listeners installed
  var pulseTimer = null;
  var pulseAt = 0;

  // The nonce of the script element that loaded the bridge, for the elements it
  // creates when a page with a nonce-based CSP passes none to connect().
  var ownNonce = '';
  try {
    var current = document.currentScript;
    if (current) ownNonce = current.nonce || current.getAttribute('nonce') || '';
  } catch (e0) { /* no currentScript (old IE) */ }
