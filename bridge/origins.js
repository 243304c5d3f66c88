  // ---------------------------------------------------------------- origins

  function normalOrigin(protocol, host) {
    protocol = protocol.toLowerCase();
    host = host.toLowerCase();
    host = host.substring(host.lastIndexOf('@') + 1);
    if ((protocol === 'http:' && /:80$/.test(host)) || (protocol === 'https:' && /:443$/.test(host))) {
      host = host.substring(0, host.lastIndexOf(':'));
    }
    return protocol + '//' + host;
  }

  function pageOrigin() {
    return normalOrigin(window.location.protocol, window.location.host);
  }

  /** The origin of an absolute or protocol-relative URL; the page's for a relative one. */
  function originOf(url) {
    var m = /^([a-zA-Z][a-zA-Z0-9+.\-]*:)?\/\/([^\/?#]*)/.exec(url);
    if (!m) return pageOrigin();
    return normalOrigin(m[1] || window.location.protocol, m[2]);
  }
