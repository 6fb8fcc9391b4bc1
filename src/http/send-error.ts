/** Proxy-made error responses on an `http.ServerResponse` (SPEC §6), inside TLS or on the plain forwarder. */
import type { ServerResponse } from 'node:http';
import { type ErrorExtras, type ProxyErrorCode, toErrorResponse } from '../errors.js';

/** Answer `code` if nothing was sent yet; otherwise cut the response short. Returns the status sent or null. */
export function sendError(res: ServerResponse, code: ProxyErrorCode, extras?: ErrorExtras): number | null {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return null;
  }
  const er = toErrorResponse(code, extras);
  const flat: string[] = [];
  for (const [name, value] of er.headers) flat.push(name, value);
  res.writeHead(er.status, flat);
  res.end(er.body);
  return er.status;
}
