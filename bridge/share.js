  // ---------------------------------------------------------------- tab sharing

  /*
   * Many tabs, one stream (docs/bridge.md). Per server (url and params), one tab of the
   * browser leads: it runs an internal connection, the engine, for the union of every
   * tab's channels, and relays what the engine gets over a bus (BroadcastChannel, else
   * localStorage and its storage event). Every tab's connections, the leader's own
   * included, are facades fed by that relay, so a page cannot tell by its events
   * whether it holds the stream. Leadership is a Web Lock where the browser has them
   * (held until the tab goes: hand-over needs no timer), else a lease in localStorage
   * renewed by the stream's own frames. Each tab keeps the stream's cursor as relayed,
   * so whichever tab leads next resumes from the last message it saw; repeats after a
   * hand-over are dropped by id. A connection that joins with an older cursor of its
   * own (`since`) fetches the gap once and merges it with the relay (gp.catchUp).
   */

  var SHARE_PREFIX = 'pushframe|share|';
  // Ids remembered per channel: a new leader resumes from its own position, which may
  // trail by the messages still in flight to it when the old one went.
  var RECENT_IDS = 256;
  // Storage fallback: a lease lasts this many heartbeat intervals; the leader renews it
  // on the stream's frames (its timers may be throttled in a background tab).
  var LEASE_BEATS = 3;
  // A hello older than this, after a new leader asked for them, drops that member's
  // channels at the next change of the union (its tab crashed without saying bye).
  var MEMBER_GRACE_MS = 10000;

  // Refusals one member's own channels or grant can cause.
  var MEMBER_FAULTS = { bad_channel: 1, bad_pattern: 1, bad_grant: 1, too_many_channels: 1, unauthorized: 1 };

  var tabId = 't' + now().toString(36) + Math.floor(Math.random() * 2176782336).toString(36);
  var groups = {};   // share key -> Group of this tab
  var memberSeq = 0;

  function localStore() {
    try {
      var s = window.localStorage;
      if (!s || !window.JSON) return null;
      s.setItem(SHARE_PREFIX + 'probe', '1');
      s.removeItem(SHARE_PREFIX + 'probe');
      return s;
    } catch (e) {
      return null; // disabled, private mode, or a full quota
    }
  }

  function webLocks() {
    try {
      var l = window.navigator && window.navigator.locks;
      return l && typeof l.request === 'function' && typeof window.Promise === 'function' ? l : null;
    } catch (e) {
      return null;
    }
  }

  /** A bus between this tab and the others of the same key: `post` reaches every other tab. */
  function openBus(key, receive) {
    if (typeof window.BroadcastChannel === 'function') {
      try {
        var bc = new window.BroadcastChannel(SHARE_PREFIX + key);
        bc.onmessage = function (ev) {
          if (ev && ev.data && typeof ev.data === 'object') receive(ev.data);
        };
        return {
          post: function (msg) {
            try { bc.postMessage(msg); } catch (e) { /* closed */ }
          },
          close: function () {
            bc.onmessage = null;
            try { bc.close(); } catch (e) { /* closed */ }
          }
        };
      } catch (e1) { /* fall through to storage */ }
    }
    var store = localStore();
    // IE8 has localStorage but its storage event names no key and carries no value.
    if (!store || !window.StorageEvent) return null;
    var slot = SHARE_PREFIX + key + '|bus';
    var seq = 0;
    function onStorage(ev) {
      if (!ev || ev.key !== slot || !ev.newValue) return;
      var box;
      try { box = parseJson(ev.newValue); } catch (e) { return; }
      // IE fires storage events in the writing window too.
      if (box && box.m && typeof box.m === 'object' && box.m.tab !== tabId) receive(box.m);
    }
    addListener(window, 'storage', onStorage);
    return {
      post: function (msg) {
        // A fresh value each time: writing an equal value fires no event.
        try { store.setItem(slot, window.JSON.stringify({ n: tabId + (++seq), m: msg })); } catch (e) { /* quota */ }
      },
      close: function () {
        removeListener(window, 'storage', onStorage);
      }
    };
  }

  /** `pattern!n`: the pattern, authorised by the n-th grant of a shared stream's token list. */
  function bareChannel(entry) {
    var bang = entry.indexOf('!');
    return bang === -1 ? entry : entry.substring(0, bang);
  }

  function matchesAny(patterns, channel) {
    for (var i = 0; i < patterns.length; i++) if (matches(patterns[i], channel)) return true;
    return false;
  }

  function sameSet(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (indexOf(b, a[i]) === -1) return false;
    return true;
  }

  function Group(key, bus, locks, store) {
    this.key = key;
    this.bus_ = bus;
    this.locks = locks;
    this.store_ = store;      // lease fallback only
    this.local_ = [];         // this tab's facades
    this.leader_ = '';        // the tab that leads, as far as this tab knows
    this.leading_ = false;
    this.engine_ = null;
    this.members_ = {};       // leader: member id -> { ch, tok, at }
    this.joined_ = [];        // leader: members added since the engine last opened
    this.held_ = [];          // leader: suspects of a refusal, let in one at a time
    this.proven_ = {};        // leader: members the engine has opened with
    this.whoAt_ = 0;
    this.last_ = null;        // the last open relay: { d, mem, tab }
    this.fatal_ = null;
    this.quietOpen_ = false;
    this.closed = false;
    this.lockHeld_ = false;
    this.release_ = null;
    this.claim = null;       // lease: { tab, at, until } this tab wrote
    this.renewedAt_ = 0;
    this.heardAt_ = now();
    this.watchTimer_ = null;
    this.recent_ = {};
    proto.setCursor_.call(this, '');
  }

  var gp = Group.prototype;

  gp.send = function (msg) {
    msg.tab = tabId;
    this.bus_.post(msg);
    this.receive_(msg);
  };

  gp.hello_ = function (c) {
    this.send({ k: 'hello', m: c.memberId_, ch: c.channels.slice(0), tok: c.token });
  };

  gp.join = function (c) {
    if (indexOf(this.local_, c) === -1) this.local_.push(c);
    // A cursor of its own that may trail the stream (`since`, or where it was suspended):
    // caught up once it is open. One that stayed open (a subscribe()) missed nothing.
    if (!c.shareOpened_ && c.cursorHead_ && c.cursorString_() !== this.cursorString_()) c.shareSince_ = c.cursorString_();
    // The first member's own cursor (`since`) is where a new shared stream starts.
    if (!this.cursorHead_ && c.cursorHead_) proto.setCursor_.call(this, c.cursorString_());
    if (!c.shareOpened_) proto.setCursor_.call(c, this.cursorString_());
    this.hello_(c);
    this.elect_();
    this.watch_();
  };

  gp.leave_ = function (c) {
    var at = indexOf(this.local_, c);
    if (at === -1) return;
    this.local_.splice(at, 1);
    this.send({ k: 'bye', m: c.memberId_ });
    if (!this.local_.length) this.shut_();
  };

  /** The last facade of this tab left: give up leadership and the bus. */
  gp.shut_ = function () {
    this.closed = true;
    if (groups[this.key] === this) delete groups[this.key];
    if (this.watchTimer_) window.clearTimeout(this.watchTimer_);
    this.watchTimer_ = null;
    if (this.leading_) this.abdicate_(true);
    this.bus_.close();
  };

  // -- election

  gp.elect_ = function () {
    if (this.closed || this.leading_) return;
    if (this.locks) this.request(false);
    else this.claimLease_(false);
  };

  /** Queues for the lock (once); `steal` takes it from a leader that stopped answering. */
  gp.request = function (steal) {
    var g = this;
    if (g.lockQueued_ && !steal) return;
    g.lockQueued_ = true;
    var p;
    try {
      p = g.locks.request(SHARE_PREFIX + g.key, steal ? { steal: true } : {}, function () {
        if (g.closed) return null;
        return new window.Promise(function (resolve) {
          g.release_ = resolve;
          g.lockHeld_ = true;
          g.lead_();
        });
      });
    } catch (e) {
      g.lockQueued_ = false;
      return;
    }
    if (!p || typeof p.then !== 'function') return;
    p.then(function () {
      // Released by this tab: queue again unless it left (it gave up leading for another).
      g.lockQueued_ = false;
      if (!g.closed && !g.leading_) g.request(false);
    }, function () {
      // Stolen (this tab was frozen, or hung, and another took over) or refused.
      g.lockQueued_ = false;
      g.lockHeld_ = false;
      g.release_ = null;
      if (g.leading_) g.abdicate_(false);
      if (!g.closed) g.request(false);
    });
  };

  gp.leaseSlot_ = function () {
    return SHARE_PREFIX + this.key + '|lease';
  };

  gp.readLease_ = function () {
    try {
      var text = this.store_.getItem(this.leaseSlot_());
      var l = text ? parseJson(text) : null;
      return l && typeof l.tab === 'string' ? l : null;
    } catch (e) {
      return null;
    }
  };

  gp.writeLease_ = function () {
    this.claim.until = now() + LEASE_BEATS * this.beat_();
    this.renewedAt_ = now();
    try { this.store_.setItem(this.leaseSlot_(), window.JSON.stringify(this.claim)); } catch (e) { /* quota */ }
  };

  /** Lease fallback: take the lease when it is free or expired. */
  gp.claimLease_ = function () {
    if (this.closed || this.leading_) return;
    var l = this.readLease_();
    if (l && l.tab !== tabId && l.until > now()) return;
    this.claim = { tab: tabId, at: now(), until: 0 };
    this.writeLease_();
    this.lead_();
  };

  /** Two claims: the later wins, the larger tab id on a tie; both tabs decide alike. */
  function beats(a, b) {
    return a.at > b.at || (a.at === b.at && a.tab > b.tab);
  }

  gp.onLease_ = function (l) {
    if (!this.leading_ || !this.claim) return;
    if (!l) {
      this.writeLease_();
      return;
    }
    if (l.tab === tabId) return;
    if (beats(l, this.claim)) this.abdicate_(false);
    else this.writeLease_();
  };

  gp.beat_ = function () {
    return this.engine_ ? this.engine_.heartbeatMs : DEFAULTS.heartbeatMs;
  };

  gp.renew_ = function () {
    var beat = this.beat_();
    // Renewed twice an interval, and at once when the server announces a shorter one.
    if (this.store_ && this.claim && this.leading_ && (now() - this.renewedAt_ >= beat / 2 || this.claim.until - now() > LEASE_BEATS * beat)) {
      var l = this.readLease_();
      if (l && l.tab !== tabId && beats(l, this.claim)) this.abdicate_(false);
      else this.writeLease_();
    }
  };

  /** This tab now holds the stream for all. */
  gp.lead_ = function () {
    var g = this;
    if (g.closed || g.leading_) return;
    g.leading_ = true;
    g.leader_ = tabId;
    g.members_ = {};
    g.joined_ = [];
    g.held_ = [];
    g.proven_ = {};
    var t = now();
    // The members the last leader served, but its own tab's: they went with it.
    var mem = g.last_ ? g.last_.mem : {};
    for (var id in mem) {
      if (hasOwn.call(mem, id) && id.substring(0, id.indexOf('.')) !== g.last_.tab) {
        g.members_[id] = { ch: mem[id].ch, tok: mem[id].tok, at: 0 };
      }
    }
    for (var i = 0; i < g.local_.length; i++) {
      var c = g.local_[i];
      if (c.channels.length && c.state !== 'idle') g.members_[c.memberId_] = { ch: c.channels.slice(0), tok: c.token, at: t };
    }
    g.whoAt_ = t;
    g.quietOpen_ = true;
    g.send({ k: 'lead', claim: g.claim });
    g.send({ k: 'who' });
    g.startEngine_();
  };

  /** Stops leading: `quit` when this tab leaves, otherwise another tab took over. */
  gp.abdicate_ = function (quit) {
    this.leading_ = false;
    if (this.leader_ === tabId) this.leader_ = '';
    var e = this.engine_;
    this.engine_ = null;
    if (e) {
      e.shareStopped_ = true;
      e.close();
    }
    if (this.release_) {
      var r = this.release_;
      this.release_ = null;
      this.lockHeld_ = false;
      r();
    }
    if (this.store_ && this.claim) {
      var l = this.readLease_();
      if (quit && l && l.tab === tabId) {
        try { this.store_.removeItem(this.leaseSlot_()); } catch (err) { /* gone */ }
      }
      this.claim = null;
    }
    if (quit) this.bus_.post({ k: 'resign', tab: tabId });
  };

  // -- the engine (leader only)

  /** The stream's channel list: each member's patterns, `!n` naming the grant that covers them. */
  gp.union_ = function () {
    var entries = [];
    var tokens = [];
    var t = now();
    for (var id in this.members_) {
      if (!hasOwn.call(this.members_, id)) continue;
      var m = this.members_[id];
      if (m.at < this.whoAt_ && t - this.whoAt_ > MEMBER_GRACE_MS) {
        delete this.members_[id]; // asked for a hello long ago, said nothing
        continue;
      }
      var ref = '';
      if (m.tok) {
        var n = indexOf(tokens, m.tok);
        if (n === -1) {
          n = tokens.length;
          tokens.push(m.tok);
        }
        ref = '!' + n;
      }
      for (var i = 0; i < m.ch.length; i++) {
        var entry = m.ch[i] + ref;
        if (indexOf(entries, entry) === -1) entries.push(entry);
      }
    }
    return { ch: entries, tok: tokens };
  };

  gp.startEngine_ = function () {
    var g = this;
    var first = g.local_[0];
    if (!first || g.closed) return;
    var u = g.union_();
    var options = {};
    for (var k in first.shareOptions_) if (hasOwn.call(first.shareOptions_, k)) options[k] = first.shareOptions_[k];
    options.channels = u.ch;
    options.token = u.tok.join(',');
    options.since = g.cursorString_();
    options.target = null;
    // A stream that starts from a member's own cursor gives it everything: no gap to fetch.
    for (var j = 0; j < g.local_.length; j++) if (g.local_[j].shareSince_ === options.since) g.local_[j].shareSince_ = '';
    var e = new Connection(options);
    e.shareTokens_ = u.tok;
    g.engine_ = e;
    g.fatal_ = null;
    e.emit_ = function (name, detail) {
      if (g.engine_ === e) g.engineEvent_(e, name, detail);
    };
    e.message_ = function (channel, id, data) {
      this.see_(channel, id);
      if (g.engine_ === e) g.send({ k: 'm', c: channel, i: id, d: data });
    };
    e.setCursor_ = function (text) {
      proto.setCursor_.call(this, text);
      if (g.engine_ === e) g.send({ k: 'c', cursor: text });
    };
    e.beat_ = function () {
      if (g.engine_ === e) g.send({ k: 'h' });
    };
    // Start now rather than a tick later: the member has already waited its turn.
    e.startNow_();
  };

  /** The union changed: the engine re-opens with its cursor (the resume every stream has). */
  gp.rejoin_ = function () {
    var e = this.engine_;
    if (!e) return;
    var u = this.union_();
    if (sameSet(u.ch, e.channels) && sameSet(u.tok, e.shareTokens_)) return;
    e.channels = u.ch;
    e.shareTokens_ = u.tok;
    e.token = u.tok.join(',');
    this.quietOpen_ = true;
    // At once, not a tick later: this never runs inside a frame's own script.
    if (pageReady()) e.start_();
    else e.reopen_();
  };

  gp.memberTable_ = function () {
    var out = {};
    for (var id in this.members_) {
      if (hasOwn.call(this.members_, id)) out[id] = { ch: this.members_[id].ch, tok: this.members_[id].tok };
    }
    return out;
  };

  gp.engineEvent_ = function (e, name, detail) {
    if (name === 'open') {
      var joined = this.joined_;
      this.joined_ = [];
      // Quiet after a re-open for the union's sake or a hand-over: only the tabs that
      // asked (or are new) see an open, as each would alone. Any other re-open (a
      // recycle, a reconnect after an error) is seen by all, as by a stream of its own.
      var quiet = this.quietOpen_;
      this.quietOpen_ = false;
      for (var pid in this.members_) if (hasOwn.call(this.members_, pid)) this.proven_[pid] = 1;
      this.send({ k: 'o', d: detail, mem: this.memberTable_(), cause: joined, quiet: quiet });
      var next = this.held_.shift();
      if (next) {
        this.members_[next.id] = next.m;
        this.joined_.push(next.id);
        this.rejoin_();
      }
    } else if (name === 'error') {
      if (hasOwn.call(FATAL, detail.code) || detail.code === 'no_transport') this.fatal_ = detail;
      else this.send({ k: 'e', d: detail });
    } else if (name === 'transport') {
      this.transportName_ = detail.name;
      this.send({ k: 't', d: detail });
    } else if (name === 'reset') {
      var list = [];
      for (var i = 0; i < detail.channels.length; i++) list.push(bareChannel(detail.channels[i]));
      this.send({ k: 'x', d: { channels: list } });
    } else if (name === 'close' && !e.shareStopped_ && this.fatal_) {
      this.refuse_(this.fatal_);
    }
  };

  /**
   * The union stream was refused for good. Alone, the member that asked for the
   * failing channels would have been refused: the members added since the stream last
   * opened are refused; with none, an expired grant ends the members that have one.
   */
  gp.refuse_ = function (err) {
    var out = [];
    var id;
    if (hasOwn.call(MEMBER_FAULTS, err.code)) {
      // Suspects: the members the stream has never opened with (the leader's own included).
      for (id in this.members_) if (hasOwn.call(this.members_, id) && !hasOwn.call(this.proven_, id)) out.push(id);
    }
    if (out.length > 1) {
      // Several joined at once: which one the server refused cannot be told apart, so
      // they are let in one at a time (each re-open is the resume every stream has).
      for (var h = 1; h < out.length; h++) {
        this.held_.push({ id: out[h], m: this.members_[out[h]] });
        delete this.members_[out[h]];
      }
      this.joined_ = [out[0]];
      this.engine_ = null;
      if (!this.closed && this.leading_) this.startEngine_();
      return;
    }
    if (!out.length) {
      for (id in this.members_) {
        if (hasOwn.call(this.members_, id) && (err.code !== 'bad_grant' || this.members_[id].tok)) out.push(id);
      }
    }
    for (var i = 0; i < out.length; i++) delete this.members_[out[i]];
    this.joined_ = [];
    this.engine_ = null;
    this.send({ k: 'refused', to: out, d: err, tr: this.transportName_ });
    if (!this.closed && this.leading_) this.startEngine_();
  };

  // -- the relay (every tab)

  gp.receive_ = function (msg) {
    if (this.closed) return;
    var k = msg.k;
    if (k === 'hello' || k === 'bye') {
      if (this.leading_) this.member_(msg);
      return;
    }
    if (k === 'lead') {
      if (this.leading_ && msg.tab !== tabId) {
        // Locks: only the holder announces, so this tab's lock was taken from it.
        // Lease fallback: two tabs claimed at once; the same rule decides in both.
        if (this.locks || (msg.claim && this.claim && beats(msg.claim, this.claim))) this.abdicate_(false);
        else return;
      }
      this.leader_ = msg.tab;
      this.heard_();
      return;
    }
    if (k === 'who') {
      if (msg.tab === tabId) return;
      for (var w = 0; w < this.local_.length; w++) this.hello_(this.local_[w]);
      return;
    }
    if (k === 'resign') {
      if (msg.tab === this.leader_) this.leader_ = '';
      if (!this.locks) this.claimLease_();
      return;
    }
    if (!this.leader_ && msg.tab) this.leader_ = msg.tab;
    // A leader that was frozen and woke up may still relay for a moment: ignore it.
    if (msg.tab !== this.leader_) return;
    this.heard_();
    var list = this.local_.slice(0);
    var i;
    if (k === 'm') {
      this.message(list, String(msg.c), String(msg.i), msg.d);
    } else if (k === 'c') {
      proto.setCursor_.call(this, String(msg.cursor));
      for (i = 0; i < list.length; i++) this.follow_(list[i], String(msg.cursor));
    } else if (k === 'o') {
      this.last_ = { d: msg.d, mem: msg.mem, tab: msg.tab };
      proto.setCursor_.call(this, String(msg.d.cursor));
      for (i = 0; i < list.length; i++) {
        var c = list[i];
        if (!hasOwn.call(msg.mem, c.memberId_)) continue;
        if (c.state !== 'open' || !msg.quiet || indexOf(msg.cause, c.memberId_) !== -1) this.opened_(c, msg.d);
        else this.follow_(c, String(msg.d.cursor));
      }
    } else if (k === 'state') {
      // A tab's first word from the stream: its cursor until then was a member's own.
      if (!this.cursorHead_ || !this.last_) proto.setCursor_.call(this, String(msg.d.cursor));
      this.last_ = { d: msg.d, mem: msg.mem, tab: msg.tab };
      for (i = 0; i < list.length; i++) if (list[i].memberId_ === msg.to && list[i].state !== 'open') this.opened_(list[i], msg.d);
    } else if (k === 't') {
      for (i = 0; i < list.length; i++) this.transport(list[i], msg.d.name);
    } else if (k === 'e') {
      for (i = 0; i < list.length; i++) {
        if (list[i].state === 'open' || list[i].state === 'connecting' || list[i].state === 'reconnecting') {
          list[i].state = 'reconnecting';
          list[i].emit_('error', msg.d);
        }
      }
    } else if (k === 'x') {
      for (i = 0; i < list.length; i++) {
        if (list[i].shareCatch_) list[i].shareCatch_.buf.push({ x: msg.d.channels });
        else this.reset(list[i], msg.d.channels);
      }
    } else if (k === 'refused') {
      // Whoever leads next must not bring them back into the union.
      if (this.last_ && this.last_.mem) for (i = 0; i < msg.to.length; i++) delete this.last_.mem[msg.to[i]];
      for (i = 0; i < list.length; i++) {
        if (indexOf(msg.to, list[i].memberId_) === -1) continue;
        // As alone: the transport it tried, the refusal, the end.
        if (msg.tr) this.transport(list[i], msg.tr);
        list[i].emit_('error', msg.d);
        list[i].close();
      }
    }
    this.renew_();
  };

  gp.member_ = function (msg) {
    var has = hasOwn.call(this.members_, msg.m);
    for (var h = 0; h < this.held_.length; h++) if (this.held_[h].id === msg.m) this.held_.splice(h--, 1);
    if (msg.k === 'bye' || !msg.ch || !msg.ch.length) {
      if (has) delete this.members_[msg.m];
      this.rejoin_();
      return;
    }
    var tok = msg.tok ? String(msg.tok) : '';
    // A member that asks for something else is a suspect again until the stream opens with it.
    if (has && (!sameSet(msg.ch, this.members_[msg.m].ch) || tok !== this.members_[msg.m].tok)) delete this.proven_[msg.m];
    this.members_[msg.m] = { ch: msg.ch, tok: tok, at: now() };
    var e = this.engine_;
    var u = this.union_();
    if (e && (!sameSet(u.ch, e.channels) || !sameSet(u.tok, e.shareTokens_))) {
      if (indexOf(this.joined_, msg.m) === -1) this.joined_.push(msg.m);
      this.rejoin_();
    } else if (e && e.state === 'open' && this.last_) {
      this.proven_[msg.m] = 1; // what it asks for is in the open stream already
      // A newcomer starts where the stream is now, and learns the members in case it leads next.
      var d = {};
      for (var k in this.last_.d) if (hasOwn.call(this.last_.d, k)) d[k] = this.last_.d[k];
      d.cursor = e.cursorString_();
      this.send({ k: 'state', to: msg.m, d: d, mem: this.memberTable_() });
    }
  };

  gp.wanted_ = function () {
    for (var i = 0; i < this.local_.length; i++) if (this.local_[i].channels.length) return true;
    return false;
  };

  gp.heard_ = function () {
    this.heardAt_ = now();
  };

  gp.opened_ = function (c, d) {
    this.transport(c, d.transport);
    if (c.state === 'closed') return;
    c.state = 'open';
    c.shareOpened_ = true;
    c.heartbeatMs = d.heartbeatMs;
    var since = c.shareSince_;
    c.shareSince_ = '';
    this.follow_(c, String(d.cursor));
    c.emit_('open', { transport: d.transport, cursor: d.cursor, heartbeatMs: d.heartbeatMs });
    if (since && c.state === 'open') this.catchUp_(c, since);
  };

  /** The stream's cursor becomes the member's, unless it is still catching up to it. */
  gp.follow_ = function (c, cursor) {
    if (c.state !== 'closed' && !c.shareCatch_) proto.setCursor_.call(c, cursor);
  };

  /**
   * A member whose own cursor is older than the stream it joined: one poll, answered at
   * once, fetches what the server has after that cursor for the member's channels. The
   * relay meanwhile is held back (gp.message); it follows the gap, repeats dropped.
   */
  gp.catchUp_ = function (c, since) {
    var g = this;
    var id = 'join' + (++pollSeq);
    var job = { buf: c.shareCatch_ ? c.shareCatch_.buf : [] };
    c.shareCatch_ = job;
    c.shareAhead_ = null;
    proto.setCursor_.call(c, since);
    function done(a) {
      window.clearTimeout(timer);
      drop();
      if (c.shareCatch_ !== job) return;
      c.shareCatch_ = null;
      if (c.state !== 'closed') g.caughtUp_(c, a && typeof a === 'object' ? a : null, job.buf);
    }
    var timer = window.setTimeout(done, c.openTimeoutMs);
    var drop = jsonp(c, id, endpoint(c, 'poll', '&open=1' + pollQuery(c, id)), done, done);
  };

  /** The gap (or, without one, a reset for all the member's channels), then the held relay. */
  gp.caughtUp_ = function (c, a, buf) {
    var seen = {};
    var i, ch, key;
    if (!a || a.error || typeof a.reconnect === 'number' || !isArray(a.messages)) {
      c.reset_(c.channels.slice(0)); // never a silent gap
    } else {
      if (isArray(a.resets) && a.resets.length) this.reset(c, a.resets);
      for (i = 0; i < a.messages.length && c.state === 'open'; i++) {
        var m = a.messages[i];
        ch = String(m[0]);
        if (!matchesAny(c.channels, ch)) continue;
        key = '$' + ch;
        (hasOwn.call(seen, key) ? seen[key] : (seen[key] = [])).push(String(m[1]));
        c.message_(ch, String(m[1]), entryData(m));
      }
    }
    for (i = 0; i < buf.length && c.state === 'open'; i++) {
      var b = buf[i];
      if (b.x) {
        this.reset(c, b.x);
        continue;
      }
      if (!held(seen, b.c, b.i)) c.message_(b.c, b.i, b.d);
    }
    // The gap's answer may outrun the relay (a poll of its own against a stream relayed
    // through another tab): what it held past the relay comes again, and is dropped then.
    // Ids count again in another epoch (a restarted memory broker): the gap's are its own.
    c.shareAhead_ = { h: this.cursorHead_, s: seen };
    // It now has all the relay brought: from here on it follows the stream's cursor.
    if (c.state !== 'closed') proto.setCursor_.call(c, this.cursorString_());
  };

  /** Whether the member's last gap (c.shareAhead_) held this relayed message already (see held). */
  gp.ahead_ = function (c, channel, id) {
    var a = c.shareAhead_;
    if (a.h !== this.cursorHead_) {
      c.shareAhead_ = null;
      return false;
    }
    return held(a.s, channel, id);
  };

  gp.transport = function (c, name) {
    if (c.state === 'closed' || c.transport === name) return;
    c.transport = name;
    c.emit_('transport', { name: name });
  };

  gp.reset = function (c, channels) {
    if (c.state === 'closed') return;
    var mine = [];
    for (var i = 0; i < channels.length; i++) {
      if (indexOf(c.channels, channels[i]) !== -1 || matchesAny(c.channels, channels[i])) mine.push(channels[i]);
    }
    if (mine.length) c.reset_(mine);
  };

  /** One relayed message: once per tab, to the facades whose own channels match. */
  gp.message = function (list, channel, id, data) {
    var ids = hasOwn.call(this.recent_, channel) ? this.recent_[channel] : (this.recent_[channel] = []);
    if (indexOf(ids, id) !== -1) return;
    ids.push(id);
    if (ids.length > RECENT_IDS) ids.shift();
    this.see_(channel, id);
    for (var i = 0; i < list.length; i++) {
      var c = list[i];
      if (c.shareOpened_ && c.state !== 'closed' && c.state !== 'suspended' && matchesAny(c.channels, channel)) {
        if (c.shareCatch_) c.shareCatch_.buf.push({ c: channel, i: id, d: data });
        else if (!c.shareAhead_ || !this.ahead_(c, channel, id)) c.message_(channel, id, data);
      }
    }
  };

  /**
   * A follower that hears nothing from the leader for two heartbeat intervals plus the
   * longest backoff takes over: the leader relays every frame, heartbeats included, so
   * its tab is frozen or hung. (Closing, crashing and navigating release the lock at
   * once; this timer is only for the frozen case.)
   */
  gp.watch_ = function () {
    var g = this;
    if (g.watchTimer_ || g.closed) return;
    var first = g.local_[0];
    if (!first) return;
    var limit = 2 * first.heartbeatMs + first.backoffMaxMs;
    g.watchTimer_ = window.setTimeout(function () {
      g.watchTimer_ = null;
      if (g.closed) return;
      var quiet = now() - g.heardAt_;
      if (g.leading_) {
        g.renew_();
      } else if (g.store_) {
        g.claimLease_(); // takes the lease only once it has run out
      } else if (quiet >= limit && g.wanted_()) {
        g.heardAt_ = now();
        g.request(true);
      }
      g.watch_();
    }, g.store_ ? Math.min(limit, 1000) : limit);
  };

  gp.setCursor_ = proto.setCursor_;
  gp.see_ = proto.see_;
  gp.cursorString_ = proto.cursorString_;

  /**
   * Whether `seen` (ids per channel, from a gap) holds this relayed message. The relay
   * brings each channel in order, so a match also passes every older id, and an id the
   * gap does not hold is past all of it: either way, what is behind the relay is forgotten.
   */
  function held(seen, channel, id) {
    var key = '$' + channel;
    if (!hasOwn.call(seen, key)) return false;
    var k = indexOf(seen[key], id);
    if (k === -1 || k === seen[key].length - 1) delete seen[key];
    else seen[key].splice(0, k + 1);
    return k !== -1;
  }

  /** The share key: the server's absolute URL, the transport ladder, the extra parameters. */
  function shareKey(c) {
    var m = /^([a-zA-Z][a-zA-Z0-9+.\-]*:)?\/\/[^\/?#]*(.*)$/.exec(c.url);
    var key = c.origin + (m ? m[2] : c.url) + '|' + c.ladder_.join(',') + '|' + c.documentDomain;
    for (var k in c.params) if (hasOwn.call(c.params, k)) key += '&' + k + '=' + c.params[k];
    return key;
  }

  function onLeaseEvent(ev) {
    ev = ev || window.event;
    if (!ev || typeof ev.key !== 'string' || ev.key.substring(0, SHARE_PREFIX.length) !== SHARE_PREFIX) return;
    for (var key in groups) {
      if (!hasOwn.call(groups, key)) continue;
      var g = groups[key];
      if (!g.store_ || ev.key !== g.leaseSlot_()) continue;
      var l = null;
      try { l = ev.newValue ? parseJson(ev.newValue) : null; } catch (e) { /* ignore */ }
      if (g.leading_) g.onLease_(l);
      else if (!l) g.claimLease_();
    }
  }

  var leaseHooked = false;

  /**
   * Turns a new connection into a facade of its tab's group for its server, when the
   * browser has a way to share; returns false (the connection streams on its own) when not.
   */
  function share(c, options) {
    var key = shareKey(c);
    var g = hasOwn.call(groups, key) ? groups[key] : null;
    if (!g) {
      var bus = null;
      var receiveFn = function (msg) {
        if (g) g.receive_(msg);
      };
      var locks = webLocks();
      var store = locks ? null : localStore();
      if (!locks && !store) return false;
      bus = openBus(key, receiveFn);
      if (!bus) return false;
      g = new Group(key, bus, locks, store);
      groups[key] = g;
      if (store && !leaseHooked) {
        leaseHooked = true;
        addListener(window, 'storage', onLeaseEvent);
      }
    }
    c.memberId_ = tabId + '.' + (++memberSeq);
    c.shareOptions_ = options;
    c.shareOpened_ = false;
    c.start_ = function () {
      if (c.state === 'closed') return;
      if (!c.channels.length) {
        c.state = 'idle';
        g.send({ k: 'bye', m: c.memberId_ });
        return;
      }
      c.state = 'connecting';
      if (g.closed) {
        // The tab's group was shut (the page was hidden, then shown again).
        if (!share(c, options)) return;
        c.start_();
        return;
      }
      g.join(c);
    };
    c.suspend_ = function () {
      if (c.state === 'closed') return;
      proto.suspend_.call(c);
      c.shareOpened_ = false;
      g.leave_(c);
    };
    c.close = function () {
      if (c.state === 'closed') return;
      g.leave_(c);
      proto.close.call(c);
    };
    return true;
  }
