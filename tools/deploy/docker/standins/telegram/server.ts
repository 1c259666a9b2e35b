/**
 * A fake Telegram Bot API for the deployment tests (image product-store-test/telegram-bot-api): what
 * Alertmanager's telegram_configs talks to, at its wire protocol.
 *
 *   POST /bot<TOKEN>/sendMessage   JSON or form body with chat_id and text: recorded, and answered as
 *                                  Telegram does: {"ok":true,"result":{"message_id":N,"date":0,
 *                                  "chat":{"id":<chat_id as a number>,"type":"group"}}}.
 *                                  A malformed token gets 401, a missing chat_id or text 400 (Telegram's
 *                                  answers); Alertmanager retries on anything but ok.
 *   GET /messages                  every message received: [{token, chat_id, text, parse_mode,
 *                                  disable_notification, received_at, body}]
 *   DELETE /messages               forgets them
 *   GET /health                    {"ok":true}
 *
 * PORT (8080) sets the port. Each message is also logged as one JSON line.
 */
import { createServer } from 'node:http';

interface Received {
  token: string;
  chat_id: number;
  text: string;
  parse_mode?: string;
  disable_notification?: boolean;
  received_at: string;
  body: Record<string, unknown>;
}

const messages: Received[] = [];

function answer(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://telegram');
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (url.pathname === '/health') return answer(res, 200, { ok: true });
    if (url.pathname === '/messages') {
      if (req.method === 'GET') return answer(res, 200, messages);
      if (req.method === 'DELETE') {
        messages.length = 0;
        return answer(res, 200, { ok: true });
      }
      return answer(res, 405, { ok: false, description: 'Method Not Allowed' });
    }
    const m = /^\/bot([^/]*)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!m) return answer(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    const token = decodeURIComponent(m[1]);
    if (!/^\d+:[A-Za-z0-9_-]+$/.test(token)) return answer(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    if (m[2] !== 'sendMessage') return answer(res, 404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
    if (req.method !== 'POST' && req.method !== 'GET') return answer(res, 405, { ok: false, error_code: 405, description: 'Method Not Allowed' });
    const raw = Buffer.concat(chunks).toString();
    let body: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const type = req.headers['content-type'] ?? '';
    try {
      if (type.includes('application/json')) body = { ...body, ...JSON.parse(raw || '{}') };
      else if (type.includes('application/x-www-form-urlencoded')) body = { ...body, ...Object.fromEntries(new URLSearchParams(raw)) };
    } catch {
      return answer(res, 400, { ok: false, error_code: 400, description: "Bad Request: can't parse JSON" });
    }
    const chatId = Number(body.chat_id);
    if (body.chat_id === undefined || body.chat_id === '' || !Number.isInteger(chatId)) return answer(res, 400, { ok: false, error_code: 400, description: 'Bad Request: chat_id is empty' });
    if (typeof body.text !== 'string' || !body.text) return answer(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
    const message: Received = {
      token,
      chat_id: chatId,
      text: body.text,
      parse_mode: typeof body.parse_mode === 'string' ? body.parse_mode : undefined,
      disable_notification: body.disable_notification === true || body.disable_notification === 'true' ? true : undefined,
      received_at: new Date().toISOString(),
      body,
    };
    messages.push(message);
    process.stdout.write(`${JSON.stringify({ event: 'sendMessage', chat_id: chatId, parse_mode: message.parse_mode, text: message.text })}\n`);
    return answer(res, 200, { ok: true, result: { message_id: messages.length, date: 0, chat: { id: chatId, type: 'group' } } });
  });
});

const port = Number(process.env.PORT || 8080);
server.listen(port, () => process.stdout.write(`fake Telegram Bot API listening on :${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
