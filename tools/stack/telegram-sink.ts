/**
 * A stand-in for Telegram's Bot API at its wire protocol: accepts Alertmanager's
 * `POST /bot<token>/sendMessage` and answers as Telegram does. The local stack prints what it gets
 * (when no real TELEGRAM_BOT_TOKEN is set); the alert drill test collects it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TelegramMessage {
  token: string;
  chat_id: number;
  text: string;
  parse_mode?: string;
}

export interface TelegramSink {
  url: string;
  close(): Promise<void>;
}

export function startTelegramSink(onMessage: (message: TelegramMessage) => void, port = 0, host = '127.0.0.1'): Promise<TelegramSink> {
  let sent = 0;
  const server = createServer((req, res) => {
    const match = /^\/bot([^/]+)\/sendMessage$/.exec(req.url ?? '');
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      let payload: Partial<TelegramMessage> = {};
      try {
        payload = JSON.parse(body);
      } catch {
        // answered below as Telegram answers a bad request
      }
      res.setHeader('Content-Type', 'application/json');
      if (req.method !== 'POST' || !match || typeof payload.text !== 'string') {
        res.statusCode = 400;
        res.end(JSON.stringify({ ok: false, error_code: 400, description: 'Bad Request' }));
        return;
      }
      const chatId = Number(payload.chat_id);
      onMessage({ token: decodeURIComponent(match[1]), chat_id: chatId, text: payload.text, parse_mode: payload.parse_mode });
      res.end(JSON.stringify({ ok: true, result: { message_id: ++sent, date: Math.floor(Date.now() / 1000), chat: { id: chatId, type: 'group' } } }));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve({ url: `http://${host}:${bound}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}
