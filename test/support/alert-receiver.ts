/**
 * A local alert webhook receiver (node:http on a free loopback port) standing in for Slack or
 * Mattermost: it records every POST (headers and JSON body) and answers from a script, e.g.
 * 500 twice and then 200; a 0 in the script holds that request unanswered (a receiver that hangs)
 * until the client gives up or the receiver closes. Its URL carries a random token in its path, like a Slack hook's, so a
 * test can search histories and output for it.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface ReceivedAlert {
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** What the receiver answered (0: nothing, it held the request). */
  status: number;
}

export interface AlertReceiver {
  url: string;
  /** The secret part of the URL (the path's token). */
  token: string;
  received: ReceivedAlert[];
  /** Those it answered 2xx. */
  accepted(): ReceivedAlert[];
  /** The answer to the next POSTs, in order; once used up, `then`. */
  script(statuses: number[], then?: number): void;
  close(): Promise<void>;
}

export async function startAlertReceiver(): Promise<AlertReceiver> {
  const token = randomBytes(16).toString('hex');
  const path = `/hooks/${token}`;
  const received: ReceivedAlert[] = [];
  const held = new Set<import('node:http').ServerResponse>();
  let queue: number[] = [];
  let fallback = 200;
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== path) {
        res.writeHead(404).end('no such hook');
        return;
      }
      const status = queue.length > 0 ? queue.shift()! : fallback;
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw);
      } catch {
        body = { unparsable: raw };
      }
      received.push({ headers: req.headers, body, status });
      if (status === 0) {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : status === 400 ? 'invalid_payload' : 'try later');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    token,
    received,
    accepted: () => received.filter((r) => r.status >= 200 && r.status < 300),
    script(statuses, then = 200) {
      queue = [...statuses];
      fallback = then;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        server.close(() => resolve());
      }),
  };
}
