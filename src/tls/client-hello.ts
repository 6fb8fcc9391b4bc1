/**
 * Pure ClientHello parser for interception (SPEC §6): decide from the bytes a client sent after `200 Connection
 * Established` whether they are a TLS ClientHello, and if so which SNI host_name and ALPN list it carries.
 *
 * The handshake message is reassembled from consecutive handshake records (RFC 8446 §5.1 lets a sender fragment
 * it at any byte) and may be handed over as any prefix of what the client has sent so far. Every length field is
 * checked against the bytes that really exist: the parser never reads past the buffer and never throws.
 */

/** RFC 5246 §6.2.2: a record fragment is at most 2^14 bytes (+1024 if compressed); we allow 2^14 + 256. */
export const MAX_RECORD_LENGTH = 2 ** 14 + 256;

/**
 * Cap on the ClientHello handshake message (its 4-byte header included). Hellos with post-quantum key shares
 * are about 1.8 KB; anything near this cap is an attempt to make us buffer, not a client.
 */
export const MAX_HELLO_BYTES = 64 * 1024;

/** The outcome of {@link parseClientHello}; a value, never an exception. */
export type ClientHelloResult =
  | {
      readonly status: 'need_more';
      /**
       * A lower bound on the buffer length at which the answer can change: parsing a longer prefix of the same
       * stream that is still shorter than this gives `need_more` again (though a malformed record header may be
       * noticed only once it is reached). Lets a reader skip re-parsing when a client trickles bytes.
       */
      readonly atLeast: number;
    }
  | {
      readonly status: 'ok';
      /** The host_name, lower-cased; undefined when the hello carries no server_name (IP-literal targets). */
      readonly sni: string | undefined;
      /** ALPN protocol names in the client's order (bytes read as latin1); empty when there is no ALPN. */
      readonly alpn: string[];
      /** How many bytes of TLS records, headers included, the hello spanned from the start of the buffer. */
      readonly bytes: number;
    }
  | { readonly status: 'not_tls' }
  | { readonly status: 'invalid'; readonly why: string };

const RECORD_HANDSHAKE = 0x16;
const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const NAME_TYPE_HOST = 0;
const MAX_HOST_NAME = 255;

// RFC 6066 §3 host_name bytes: letters, digits, hyphen, dot; underscore tolerated as in net/host-port.ts.
const HOST_BYTE = new Uint8Array(256);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._')
  HOST_BYTE[c.charCodeAt(0)] = 1;

const NOT_TLS: ClientHelloResult = { status: 'not_tls' };
const FOREIGN_RECORD = 'a non-handshake record arrived before the ClientHello ended';

function invalid(why: string): ClientHelloResult {
  return { status: 'invalid', why };
}

/** A failure inside the hello body; kept apart from results so the field parsers stay small. */
type Bad = { readonly why: string };

function isBad(v: unknown): v is Bad {
  return typeof v === 'object' && v !== null && 'why' in v;
}

/**
 * Parse the ClientHello at the start of `buf` (SPEC §6 Interception).
 *
 * `not_tls` is decided from the first byte (and the record version's major byte once it is there), so a plain-HTTP
 * client is refused without waiting. The hello must end exactly where its last record ends: nothing may follow it
 * in that record, because a client sends nothing else before the server has answered.
 */
export function parseClientHello(buf: Buffer): ClientHelloResult {
  if (buf.length === 0) return { status: 'need_more', atLeast: 1 };
  if (buf[0] !== RECORD_HANDSHAKE || (buf.length > 1 && buf[1] !== 3)) return NOT_TLS;
  const fragments: Buffer[] = [];
  let have = 0; // handshake bytes present so far
  let declared = 0; // handshake bytes the records seen so far announce
  let need = HANDSHAKE_HEADER; // handshake bytes wanted: the header, then header + body once its length is known
  let known = false; // whether `need` already includes the body
  let off = 0;
  for (;;) {
    // Checked on whatever part of a later record header is present, so a full header is not awaited to refuse one.
    if (off > 0 && (buf[off] ?? RECORD_HANDSHAKE) !== RECORD_HANDSHAKE) return invalid(FOREIGN_RECORD);
    if (off > 0 && (buf[off + 1] ?? 3) !== 3) return invalid(FOREIGN_RECORD);
    if (off + RECORD_HEADER > buf.length) {
      // In the first header every byte can decide not_tls; later we need at least the header and what is missing.
      const atLeast = off === 0 ? buf.length + 1 : off + RECORD_HEADER + (need - have);
      return { status: 'need_more', atLeast };
    }
    const length = buf.readUInt16BE(off + 3);
    // RFC 8446 §5.1: zero-length handshake fragments MUST NOT be sent; they would also let a client spin us.
    if (length === 0) return invalid('empty handshake record');
    if (length > MAX_RECORD_LENGTH) return invalid('record longer than 2^14+256 bytes');
    const start = off + RECORD_HEADER;
    const end = Math.min(start + length, buf.length);
    fragments.push(buf.subarray(start, end));
    have += end - start;
    declared += length;
    if (!known && have >= HANDSHAKE_HEADER) {
      known = true;
      const head = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, have);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return invalid('first handshake message is not a ClientHello');
      need = HANDSHAKE_HEADER + head.readUIntBE(1, 3);
      if (need > MAX_HELLO_BYTES) return invalid('ClientHello larger than 64 KiB');
    }
    if (known && declared > need) return invalid('data follows the ClientHello in its record');
    if (have === need) {
      const msg = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, have);
      return parseBody(msg.subarray(HANDSHAKE_HEADER), end);
    }
    if (end < start + length) return { status: 'need_more', atLeast: buf.length + (need - have) };
    off = end;
  }
}

/** The ClientHello body (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2), after the handshake header. */
function parseBody(body: Buffer, bytes: number): ClientHelloResult {
  // client_version(2) random(32) session_id length(1)
  if (body.length < 35) return invalid('ClientHello too short');
  if (body[0] !== 3) return invalid('client_version is not 3.x');
  let p = 34;
  const sessionId = body[p]!;
  if (sessionId > 32) return invalid('session_id longer than 32 bytes');
  p += 1 + sessionId;
  if (p + 2 > body.length) return invalid('cipher_suites truncated');
  const suites = body.readUInt16BE(p);
  if (suites === 0 || suites % 2 !== 0) return invalid('cipher_suites length is zero or odd');
  p += 2 + suites;
  if (p + 1 > body.length) return invalid('compression_methods truncated');
  const methods = body[p]!;
  if (methods === 0) return invalid('no compression_methods');
  p += 1 + methods;
  if (p > body.length) return invalid('compression_methods truncated');
  // A hello without an extensions block is legal (RFC 5246 §7.4.1.2): no SNI, no ALPN.
  if (p === body.length) return { status: 'ok', sni: undefined, alpn: [], bytes };
  if (p + 2 > body.length || p + 2 + body.readUInt16BE(p) !== body.length) {
    return invalid('extensions length does not match the ClientHello');
  }
  const ext = parseExtensions(body.subarray(p + 2));
  return isBad(ext) ? invalid(ext.why) : { status: 'ok', sni: ext.sni, alpn: ext.alpn, bytes };
}

function parseExtensions(block: Buffer): { sni: string | undefined; alpn: string[] } | Bad {
  const seen = new Set<number>();
  let sni: string | undefined;
  let alpn: string[] = [];
  let p = 0;
  while (p < block.length) {
    if (p + 4 > block.length) return { why: 'extension header truncated' };
    const type = block.readUInt16BE(p);
    const len = block.readUInt16BE(p + 2);
    p += 4;
    if (p + len > block.length) return { why: 'extension overruns the extensions block' };
    // RFC 8446 §4.2: at most one extension of each type; two server_names would make "the" SNI ambiguous.
    if (seen.has(type)) return { why: 'duplicate extension' };
    seen.add(type);
    const data = block.subarray(p, p + len);
    if (type === EXT_SERVER_NAME) {
      const name = parseServerName(data);
      if (isBad(name)) return name;
      sni = name;
    } else if (type === EXT_ALPN) {
      const list = parseAlpn(data);
      if (isBad(list)) return list;
      alpn = list;
    }
    p += len;
  }
  return { sni, alpn };
}

/** RFC 6066 §3 ServerNameList: the host_name entry, validated by bytes; other name types are skipped. */
function parseServerName(data: Buffer): string | undefined | Bad {
  if (data.length < 2 || data.readUInt16BE(0) + 2 !== data.length || data.length === 2) {
    return { why: 'server_name list length is wrong' };
  }
  let host: string | undefined;
  let p = 2;
  while (p < data.length) {
    if (p + 3 > data.length) return { why: 'server_name entry truncated' };
    const type = data[p]!;
    const len = data.readUInt16BE(p + 1);
    p += 3;
    if (p + len > data.length) return { why: 'server_name entry overruns its list' };
    if (type === NAME_TYPE_HOST) {
      // RFC 6066 §3 allows one name per type; a second host_name could be read differently by the TLS stack.
      if (host !== undefined) return { why: 'more than one host_name' };
      if (len === 0 || len > MAX_HOST_NAME) return { why: 'host_name length out of range' };
      for (let i = p; i < p + len; i++) {
        if (HOST_BYTE[data[i]!] !== 1) return { why: 'host_name holds a byte not allowed in a hostname' };
      }
      host = data.toString('latin1', p, p + len).toLowerCase();
    }
    p += len;
  }
  return host;
}

/** RFC 7301 §3.1 ProtocolNameList: non-empty list of non-empty names. */
function parseAlpn(data: Buffer): string[] | Bad {
  if (data.length < 4 || data.readUInt16BE(0) + 2 !== data.length)
    return { why: 'ALPN list length is wrong' };
  const names: string[] = [];
  let p = 2;
  while (p < data.length) {
    const len = data[p]!;
    p += 1;
    if (len === 0 || p + len > data.length) return { why: 'ALPN protocol name empty or truncated' };
    names.push(data.toString('latin1', p, p + len));
    p += len;
  }
  return names;
}
