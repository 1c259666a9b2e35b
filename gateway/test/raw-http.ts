/** HTTP spoken by hand, for the gateway's tests: requests exactly as written, answers with every header line. */
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  /** Every header line, in order, names lower-cased: a header sent twice shows twice. */
  headerLines: Array<[string, string]>;
  body: string;
}

/**
 * Sends `text` on a connection of its own (no client normalizes or refuses anything) and resolves
 * with what came back once the server closed it (send `Connection: close`).
 */
export function exchange(port: number, text: string, localAddress = '127.0.0.1'): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const [head, ...rest] = all.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const headerLines = lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
      resolve({ status: Number(statusLine.split(' ')[1]), headerLines, body: rest.join('\r\n\r\n') });
    });
    // Not end(): nginx takes a half-closed connection for a client that left (499) and drops a proxied request.
    socket.write(text);
  });
}
