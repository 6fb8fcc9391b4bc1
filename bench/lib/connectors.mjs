// The two ways the load client reaches the upstream, as undici `connect` functions so everything above the
// socket (undici's Pool, request framing, the load loop) is the same code on both paths:
//   direct — TCP + TLS to the upstream;
//   proxy  — TCP to the proxy, `CONNECT host:port` with Proxy-Authorization, then TLS inside the tunnel,
//            verified against the proxy's CA (the MITM'd path the workload takes).
// Neither side offers TLS session resumption: every new connection is a full handshake on both paths.
import { isIP, connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

const ALPN = ['http/1.1'];

/** Call `cb` once: undici must not see a second callback from a late 'error'. */
function once(cb) {
  let called = false;
  return (err, socket) => {
    if (called) return;
    called = true;
    cb(err, socket);
  };
}

function startTls(socket, host, port, ca, done, alpn = ALPN) {
  const tls = tlsConnect({
    socket,
    host,
    port,
    ca,
    ALPNProtocols: alpn,
    ...(isIP(host) ? {} : { servername: host }),
  });
  const onError = (err) => done(err, null);
  tls.once('error', onError);
  tls.once('secureConnect', () => {
    tls.off('error', onError);
    done(null, tls);
  });
  return tls;
}

/**
 * Connector for the direct path: TLS straight to the upstream, trusting `ca`.
 * @param {{ ca: string, alpn?: string[] }} o  `alpn` defaults to http/1.1 (the h2 scenario offers h2)
 */
export function directConnector(o) {
  return (opts, callback) => {
    const done = once(callback);
    const port = Number(opts.port);
    const tcp = netConnect({ host: opts.hostname, port, noDelay: true });
    tcp.once('error', (err) => done(err, null));
    startTls(tcp, opts.hostname, port, o.ca, done, o.alpn);
  };
}

/**
 * Connector for the proxy path: CONNECT through the proxy, then TLS to the target trusting the proxy CA.
 * @param {{ proxyPort: number, proxyHost?: string, authorization: string, ca: string, alpn?: string[] }} o
 */
export function proxyConnector(o) {
  return (opts, callback) => {
    const done = once(callback);
    const port = Number(opts.port);
    const authority = `${opts.hostname}:${port}`;
    const tcp = netConnect({ host: o.proxyHost ?? '127.0.0.1', port: o.proxyPort, noDelay: true });
    const onError = (err) => done(err, null);
    tcp.once('error', onError);
    tcp.once('connect', () => {
      tcp.write(
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nProxy-Authorization: ${o.authorization}\r\n\r\n`,
      );
    });
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      tcp.off('data', onData);
      tcp.off('error', onError);
      const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 200 /.test(status)) {
        tcp.destroy();
        done(new Error(`CONNECT refused: ${status}`), null);
        return;
      }
      // Nothing should follow the 200 before our ClientHello, but put back whatever did.
      if (end + 4 < head.length) tcp.unshift(head.subarray(end + 4));
      startTls(tcp, opts.hostname, port, o.ca, done, o.alpn);
    };
    tcp.on('data', onData);
  };
}

/**
 * `Proxy-Authorization` value for the workload token (SPEC §6: Basic, username ignored).
 * @param {string} token
 */
export function basicAuth(token) {
  return `Basic ${Buffer.from(`bench:${token}`).toString('base64')}`;
}
