'use strict';
// Starts telegram-test-api (pinned in package.json) on loopback with the shims python-telegram-bot 22
// and qn-bot's tests need (see ../shared/notes/test-servers.md, "telegram-test-api").
//
//   node launcher.js [PORT]        env: TELEGRAM_EMULATOR_PORT, TELEGRAM_EMULATOR_DELAY_MS,
//                                       TELEGRAM_EMULATOR_BOT_USERNAME
//
// Prints "listening on PORT" on stdout once it accepts connections. Bot API at
// http://127.0.0.1:PORT/bot<TOKEN>/<method>. Extra routes (JSON POST, all under /_qn/):
//   /_qn/health                          → {ok:true}
//   /_qn/update {token, update}          a citizen's update (message / edited_message /
//                                        callback_query…, Telegram-shaped); update_id and, for
//                                        messages without one, message_id are assigned → {update_id, message_id}
//   /_qn/updates {token, updates}        several at once, delivered to the bot in one getUpdates
//   /_qn/bot_messages {token}            every bot message not read yet, all chats at once (and marks them read)
//   /_qn/message {token, chat_id, message_id}  a bot message as it is now (after edits)
//   /_qn/state {token}                   answered callback ids, commands set, webhook, calls per method
//   /_qn/flood {count, retry_after}      the next COUNT sendMessage calls answer 429 (retry_after seconds)
//   /_qn/block {chat_id, blocked}        sends to that chat answer 403 "bot was blocked by the user"
//   /_qn/delay {ms}                      delay added to every Bot API call (simulated network)
//
// Shims over the library: getMe has is_bot; bot messages carry `date` in seconds, `from` and the chat
// type; callback queries carry chat_instance; getUpdates honours offset (confirms what is below it),
// limit and timeout (long polling) like Telegram; edit* answer true; setMyCommands, sendChatAction,
// setWebhook (with secret_token), deleteWebhook… answer ok; sendDocument / sendPhoto are recorded;
// sendMessage checks HTML parse mode and the 4096-character limit; webhook deliveries carry
// X-Telegram-Bot-Api-Secret-Token and are retried, in order per chat, until the bot answers 2xx.
// The library's request logger (it serialises every request even with DEBUG off) is switched off.

const requestLoggerModule = require('telegram-test-api/lib/modules/requestLogger');

requestLoggerModule.requestLogger = (_req, _res, next) => next();

const { routes } = require('telegram-test-api/lib/routes/index');
const { TelegramServer } = require('telegram-test-api/lib/telegramServer');

const BOT_ID = 666;
const BOT_USERNAME = process.env.TELEGRAM_EMULATOR_BOT_USERNAME || 'qn_test_bot';
const MAX_TEXT = 4096;
const HTML_TAGS = new Set([
  'b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'span', 'tg-spoiler', 'a', 'code',
  'pre', 'blockquote', 'tg-emoji',
]);
const OK_METHODS = [
  'setMyCommands', 'deleteMyCommands', 'sendChatAction', 'setMyDescription', 'setMyShortDescription',
  'setMyName', 'setChatMenuButton', 'close', 'logOut',
];

const shim = {
  delayMs: Number(process.env.TELEGRAM_EMULATOR_DELAY_MS || 0),
  flood: { count: 0, retryAfter: 1 },
  blocked: new Set(),
  unread: new Map(), // token → [bot message record]
  botMessages: new Map(), // `${token}:${chat}:${id}` → record
  answered: new Map(), // token → [callback ids]
  commands: new Map(), // token → {language_code: commands}
  calls: new Map(), // token → {method: count}
  webhooks: new Map(), // token → {url, secret_token}
  waiters: new Map(), // token → [resolve]
  chains: new Map(), // `${token}:${chat}` → promise (webhook deliveries in order per chat)
};

const nowSeconds = () => Math.floor(Date.now() / 1000);
const perToken = (map, token, make) => {
  if (!map.has(token)) map.set(token, make());
  return map.get(token);
};

function botUser() {
  return { id: BOT_ID, is_bot: true, first_name: 'QN Test Bot', username: BOT_USERNAME };
}

function chatOf(chatId) {
  const id = Number(chatId);
  return id < 0 ? { id, type: 'supergroup', title: 'Groupe de test' } : { id, type: 'private', first_name: 'Citoyen' };
}

function parseJsonField(value) {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch (_e) {
    return value;
  }
}

// Telegram HTML parse mode: only its tags, only &lt; &gt; &amp; &quot; and numeric entities.
// Returns {text} (what the user sees) or {error}.
function parseHtml(html) {
  let out = '';
  const stack = [];
  let i = 0;
  while (i < html.length) {
    const ch = html[i];
    if (ch === '<') {
      const m = /^<(\/?)([a-zA-Z][a-zA-Z-]*)(\s[^<>]*)?>/.exec(html.slice(i));
      if (!m || !HTML_TAGS.has(m[2].toLowerCase())) {
        return { error: `Bad Request: can't parse entities: unsupported start tag at byte offset ${i}` };
      }
      const tag = m[2].toLowerCase();
      if (m[1]) {
        if (stack.pop() !== tag) return { error: `Bad Request: can't parse entities: unmatched end tag at byte offset ${i}` };
      } else {
        stack.push(tag);
      }
      i += m[0].length;
    } else if (ch === '&') {
      const m = /^&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);/.exec(html.slice(i));
      if (!m) return { error: `Bad Request: can't parse entities: unsupported entity at byte offset ${i}` };
      const name = m[1];
      out += { lt: '<', gt: '>', amp: '&', quot: '"' }[name]
        || String.fromCodePoint(name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10));
      i += m[0].length;
    } else if (ch === '>') {
      return { error: `Bad Request: can't parse entities: unexpected > at byte offset ${i}` };
    } else {
      out += ch;
      i += 1;
    }
  }
  if (stack.length) return { error: "Bad Request: can't parse entities: can't find end tag" };
  return { text: out };
}

// A small multipart/form-data reader (python-telegram-bot uploads files this way).
function readMultipart(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(req.headers['content-type'] || '');
      if (!m) return resolve({ fields: {}, files: {} });
      const boundary = Buffer.from(`--${m[1] || m[2]}`);
      const fields = {};
      const files = {};
      let start = body.indexOf(boundary);
      while (start !== -1) {
        const next = body.indexOf(boundary, start + boundary.length);
        if (next === -1) break;
        const part = body.slice(start + boundary.length + 2, next - 2);
        const split = part.indexOf('\r\n\r\n');
        if (split !== -1) {
          const head = part.slice(0, split).toString();
          const data = part.slice(split + 4);
          const name = /name="([^"]*)"/.exec(head);
          const filename = /filename="([^"]*)"/.exec(head);
          const type = /content-type:\s*([^\r\n]+)/i.exec(head);
          if (name && filename) {
            files[name[1]] = { filename: filename[1], mime_type: type ? type[1] : 'application/octet-stream', size: data.length };
          } else if (name) {
            fields[name[1]] = data.toString();
          }
        }
        start = next;
      }
      resolve({ fields, files });
    });
  });
}

async function paramsOf(req) {
  const type = req.headers['content-type'] || '';
  if (type.startsWith('multipart/form-data')) return readMultipart(req);
  return { fields: Object.assign({}, req.query, req.body || {}), files: {} };
}

function sendOk(res, result) {
  res.json({ ok: true, result });
}

function sendFail(res, code, description, parameters) {
  const body = { ok: false, error_code: code, description };
  if (parameters) body.parameters = parameters;
  res.status(code).json(body);
}

function count(token, method) {
  const calls = perToken(shim.calls, token, () => ({}));
  calls[method] = (calls[method] || 0) + 1;
}

// Flood control and blocked users apply to everything that posts a message in a chat.
function refused(res, chatId) {
  if (shim.blocked.has(String(chatId))) {
    sendFail(res, 403, 'Forbidden: bot was blocked by the user');
    return true;
  }
  if (shim.flood.count > 0) {
    shim.flood.count -= 1;
    const after = shim.flood.retryAfter;
    sendFail(res, 429, `Too Many Requests: retry after ${after}`, { retry_after: after });
    return true;
  }
  return false;
}

function storeBotMessage(server, token, chatId, fields) {
  const messageId = server.messageId;
  server.messageId += 1;
  const message = Object.assign(
    { message_id: messageId, date: nowSeconds(), chat: chatOf(chatId), from: botUser() },
    fields,
  );
  const record = { token, chat_id: Number(chatId), message_id: messageId, message, edits: 0, read: false };
  shim.botMessages.set(`${token}:${Number(chatId)}:${messageId}`, record);
  perToken(shim.unread, token, () => []).push(record);
  // The library's own storage, so its client routes (getUpdatesHistory…) still see it.
  server.storage.botMessages.push({
    time: Date.now(), botToken: token, message: Object.assign({ chat_id: chatId }, fields),
    updateId: server.updateId, messageId, isRead: true,
  });
  server.updateId += 1;
  return message;
}

function publicRecord(record) {
  const m = record.message;
  return {
    chat_id: record.chat_id,
    message_id: record.message_id,
    date: m.date,
    text: m.text,
    caption: m.caption,
    parse_mode: m.parse_mode,
    reply_markup: m.reply_markup,
    document: m.document,
    photo: m.photo,
    edits: record.edits,
  };
}

function chatIdOfUpdate(update) {
  const m = update.message || update.edited_message || update.channel_post
    || (update.callback_query && update.callback_query.message);
  if (m && m.chat) return m.chat.id;
  if (update.callback_query) return update.callback_query.from.id;
  return 0;
}

// Telegram's getUpdates: updates below `offset` are confirmed and forgotten; long polling waits
// up to `timeout` seconds for the first one.
function pendingUpdates(server, token, offset, limit) {
  if (offset > 0) {
    server.storage.userMessages = server.storage.userMessages.filter(
      (u) => !(u.botToken === token && u.updateId < offset),
    );
  }
  return server.storage.userMessages
    .filter((u) => u.botToken === token && u.updateId >= offset)
    .slice(0, limit)
    .map((u) => u.raw);
}

function wake(token) {
  const waiters = shim.waiters.get(token) || [];
  shim.waiters.set(token, []);
  waiters.forEach((resolve) => resolve());
}

async function deliverWebhook(token, update) {
  for (let attempt = 0; attempt < 600; attempt += 1) {
    const hook = shim.webhooks.get(token);
    if (!hook) return false;
    try {
      const headers = { 'Content-Type': 'application/json' };
      if (hook.secret_token) headers['X-Telegram-Bot-Api-Secret-Token'] = hook.secret_token;
      const resp = await fetch(hook.url, { method: 'POST', headers, body: JSON.stringify(update) });
      await resp.arrayBuffer();
      if (resp.status >= 200 && resp.status < 300) return true;
    } catch (_e) {
      // the bot is down or restarting: Telegram retries, so do we
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

function addUpdate(server, token, update) {
  const full = Object.assign({}, update, { update_id: server.updateId });
  server.updateId += 1;
  const m = full.message || full.edited_message;
  if (full.message && full.message.message_id === undefined) {
    full.message = Object.assign({ message_id: server.messageId }, full.message);
    server.messageId += 1;
  }
  for (const key of ['message', 'edited_message']) {
    if (full[key] && full[key].date === undefined) full[key].date = nowSeconds();
  }
  if (full.edited_message && full.edited_message.edit_date === undefined) full.edited_message.edit_date = nowSeconds();
  if (full.callback_query) {
    full.callback_query = Object.assign(
      { id: String(server.callbackId), chat_instance: String(chatIdOfUpdate(full)) },
      full.callback_query,
    );
    server.callbackId += 1;
  }
  const result = {
    update_id: full.update_id,
    message_id: (full.message || m || {}).message_id,
    callback_query_id: full.callback_query && full.callback_query.id,
  };
  if (shim.webhooks.has(token)) {
    const key = `${token}:${chatIdOfUpdate(full)}`;
    const previous = shim.chains.get(key) || Promise.resolve();
    shim.chains.set(key, previous.then(() => deliverWebhook(token, full)).catch(() => false));
  } else {
    server.storage.userMessages.push({ time: Date.now(), botToken: token, updateId: full.update_id, raw: full });
    wake(token);
  }
  return result;
}

function installShims(app, server) {
  // A simulated network: every Bot API call waits this long before being handled.
  app.use((req, _res, next) => {
    if (shim.delayMs > 0 && req.path.startsWith('/bot')) setTimeout(next, shim.delayMs);
    else next();
  });

  const bot = (method, handler) => {
    app.all(`/bot:token/${method}`, (req, res, next) => {
      count(req.params.token, method);
      Promise.resolve(handler(req, res, req.params.token)).catch(next);
    });
  };

  bot('getMe', (_req, res) => sendOk(res, Object.assign(botUser(), {
    can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false,
  })));

  bot('getUpdates', async (req, res, token) => {
    const { fields } = await paramsOf(req);
    const offset = Number(fields.offset || 0);
    const limit = Math.min(Number(fields.limit || 100), 100);
    const timeout = Math.min(Number(fields.timeout || 0), 50);
    let updates = pendingUpdates(server, token, offset, limit);
    if (!updates.length && timeout > 0) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, timeout * 1000);
        perToken(shim.waiters, token, () => []).push(() => { clearTimeout(timer); resolve(); });
      });
      updates = pendingUpdates(server, token, offset, limit);
    }
    sendOk(res, updates);
  });

  bot('sendMessage', async (req, res, token) => {
    const { fields } = await paramsOf(req);
    const chatId = fields.chat_id;
    const text = fields.text === undefined ? '' : String(fields.text);
    if (refused(res, chatId)) return;
    let visible = text;
    if (String(fields.parse_mode || '').toUpperCase() === 'HTML') {
      const parsed = parseHtml(text);
      if (parsed.error) return sendFail(res, 400, parsed.error);
      visible = parsed.text;
    }
    if (!visible.trim()) return sendFail(res, 400, 'Bad Request: message text is empty');
    if ([...visible].length > MAX_TEXT) return sendFail(res, 400, 'Bad Request: message is too long');
    const message = { text };
    if (fields.parse_mode) message.parse_mode = fields.parse_mode;
    const markup = parseJsonField(fields.reply_markup);
    if (markup && markup.inline_keyboard) message.reply_markup = markup;
    sendOk(res, storeBotMessage(server, token, chatId, message));
  });

  const sendFile = (method, field) => bot(method, async (req, res, token) => {
    const { fields, files } = await paramsOf(req);
    const chatId = fields.chat_id;
    if (refused(res, chatId)) return;
    const file = files[field] || { filename: String(fields[field] || ''), mime_type: 'application/octet-stream', size: 0 };
    const id = `file-${server.messageId}`;
    const message = {};
    if (fields.caption) message.caption = fields.caption;
    if (fields.parse_mode) message.parse_mode = fields.parse_mode;
    if (field === 'photo') {
      message.photo = [{ file_id: id, file_unique_id: id, width: 1, height: 1, file_size: file.size, file_name: file.filename }];
    } else {
      message.document = { file_id: id, file_unique_id: id, file_name: file.filename, mime_type: file.mime_type, file_size: file.size };
    }
    sendOk(res, storeBotMessage(server, token, chatId, message));
  });
  sendFile('sendDocument', 'document');
  sendFile('sendPhoto', 'photo');

  const edit = (method, apply) => bot(method, async (req, res, token) => {
    const { fields } = await paramsOf(req);
    const record = shim.botMessages.get(`${token}:${Number(fields.chat_id)}:${Number(fields.message_id)}`);
    if (!record) return sendFail(res, 400, 'Bad Request: message to edit not found');
    apply(record.message, fields);
    record.edits += 1;
    sendOk(res, true);
  });
  edit('editMessageReplyMarkup', (message, fields) => {
    const markup = parseJsonField(fields.reply_markup);
    if (markup && markup.inline_keyboard && markup.inline_keyboard.length) message.reply_markup = markup;
    else delete message.reply_markup;
  });
  edit('editMessageText', (message, fields) => {
    message.text = String(fields.text);
    if (fields.parse_mode) message.parse_mode = fields.parse_mode;
    const markup = parseJsonField(fields.reply_markup);
    if (markup && markup.inline_keyboard && markup.inline_keyboard.length) message.reply_markup = markup;
    else delete message.reply_markup;
  });

  bot('answerCallbackQuery', async (req, res, token) => {
    const { fields } = await paramsOf(req);
    perToken(shim.answered, token, () => []).push(String(fields.callback_query_id));
    sendOk(res, true);
  });

  bot('setMyCommands', async (req, res, token) => {
    const { fields } = await paramsOf(req);
    perToken(shim.commands, token, () => ({}))[fields.language_code || ''] = parseJsonField(fields.commands);
    sendOk(res, true);
  });
  bot('getMyCommands', async (req, res, token) => {
    const { fields } = await paramsOf(req);
    sendOk(res, perToken(shim.commands, token, () => ({}))[fields.language_code || ''] || []);
  });

  bot('setWebhook', async (req, res, token) => {
    const { fields } = await paramsOf(req);
    if (!fields.url) return sendFail(res, 400, 'Bad Request: bad webhook: URL is empty');
    shim.webhooks.set(token, { url: String(fields.url), secret_token: fields.secret_token ? String(fields.secret_token) : '' });
    // Telegram hands pending updates to a new webhook.
    const pending = server.storage.userMessages.filter((u) => u.botToken === token);
    server.storage.userMessages = server.storage.userMessages.filter((u) => u.botToken !== token);
    if (String(fields.drop_pending_updates) !== 'true') {
      pending.forEach((u) => {
        const key = `${token}:${chatIdOfUpdate(u.raw)}`;
        const previous = shim.chains.get(key) || Promise.resolve();
        shim.chains.set(key, previous.then(() => deliverWebhook(token, u.raw)).catch(() => false));
      });
    }
    sendOk(res, true);
  });
  bot('deleteWebhook', async (req, res, token) => {
    const { fields } = await paramsOf(req);
    shim.webhooks.delete(token);
    if (String(fields.drop_pending_updates) === 'true') {
      server.storage.userMessages = server.storage.userMessages.filter((u) => u.botToken !== token);
    }
    sendOk(res, true);
  });
  bot('getWebhookInfo', (_req, res, token) => {
    const hook = shim.webhooks.get(token);
    sendOk(res, { url: hook ? hook.url : '', has_custom_certificate: false, pending_update_count: 0 });
  });

  OK_METHODS.forEach((method) => bot(method, (_req, res) => sendOk(res, true)));

  // --- routes for the tests, playing the citizens and steering faults
  app.all('/_qn/health', (_req, res) => sendOk(res, true));
  app.post('/_qn/update', (req, res) => sendOk(res, addUpdate(server, req.body.token, req.body.update)));
  // Several updates stored at once: a getUpdates waiting for them wakes after the last one (its
  // continuation runs once this handler has returned), so they come in one batch, as messages
  // a person sent before the bot polled again.
  app.post('/_qn/updates', (req, res) => sendOk(
    res, req.body.updates.map((update) => addUpdate(server, req.body.token, update)),
  ));
  app.post('/_qn/bot_messages', (req, res) => {
    const list = perToken(shim.unread, req.body.token, () => []);
    shim.unread.set(req.body.token, []);
    sendOk(res, list.map(publicRecord));
  });
  app.post('/_qn/message', (req, res) => {
    const record = shim.botMessages.get(`${req.body.token}:${Number(req.body.chat_id)}:${Number(req.body.message_id)}`);
    if (!record) return sendFail(res, 404, 'no such bot message');
    sendOk(res, publicRecord(record));
  });
  app.post('/_qn/state', (req, res) => {
    const token = req.body.token;
    const hook = shim.webhooks.get(token);
    sendOk(res, {
      answered_callbacks: shim.answered.get(token) || [],
      commands: shim.commands.get(token) || {},
      webhook: hook ? { url: hook.url, has_secret: Boolean(hook.secret_token) } : null,
      calls: shim.calls.get(token) || {},
      pending_updates: server.storage.userMessages.filter((u) => u.botToken === token).length,
    });
  });
  app.post('/_qn/flood', (req, res) => {
    shim.flood = { count: Number(req.body.count || 0), retryAfter: Number(req.body.retry_after || 1) };
    sendOk(res, true);
  });
  app.post('/_qn/block', (req, res) => {
    if (req.body.blocked === false) shim.blocked.delete(String(req.body.chat_id));
    else shim.blocked.add(String(req.body.chat_id));
    sendOk(res, true);
  });
  app.post('/_qn/delay', (req, res) => {
    shim.delayMs = Number(req.body.ms || 0);
    sendOk(res, true);
  });
}

// Our routes go first: express answers with the first route that matches.
routes.unshift(installShims);

async function main() {
  const port = Number(process.argv[2] || process.env.TELEGRAM_EMULATOR_PORT || 9000);
  const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 3600 });
  await server.start();
  process.stdout.write(`listening on ${port}\n`);
  const stop = () => server.stop().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
