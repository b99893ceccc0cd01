// The reference client: state and wiring. The socket keeps the chat list and the open chat in step with the
// server; answers stream over SSE (streams.js); views.js draws. Each handler reads as the protocol's own
// words: a push, an answer's event, a click.

import { accountWire } from './account.js';
import { api, sessionRefresh } from './api.js';
import { onIdentityChange, session, socketAuth } from './auth.js';
import { problemShow } from './problems.js';
import { connect } from './socket.js';
import { answerJoin, answerOf, answersResume, answerStart, streamsInit } from './streams.js';
import * as views from './views.js';

const NEW_CHAT = 'new';
const OPEN_CHAT_KEY = 'chatsite.openChat';

const state = {
  /** @type {Map<string, any>} the caller's chats by id */
  chats: new Map(),
  /** @type {string | null} the chat on screen; null for a new chat not sent yet */
  chatId: null,
  /** @type {any[]} the open chat's messages, oldest first, with this tab's not yet accepted sends */
  messages: [],
  /** @type {Set<string>} chats (or NEW_CHAT) with a send or regenerate whose answer has not started */
  starting: new Set(),
  /** bumped for each message list asked for, so a slow reply for a chat no longer shown is dropped */
  loading: 0,
  localIds: 0,
};

/** @type {import('./socket.js').Connection} */
let connection;

// ---- chats and messages -------------------------------------------------------------------------------

function renderChats() {
  const chats = [...state.chats.values()].sort((a, b) => b.updated_at.localeCompare(a.updated_at));
  views.renderChats(chats, state.chatId, { open: chatOpen, remove: chatDelete });
}

function renderMessages() {
  const last = state.messages.findLast((message) => message.role === 'assistant');
  const canRegenerate = last && last.status !== 'streaming' && !busy();
  views.renderMessages(state.messages.map((message) => messageView(message, canRegenerate && message === last)));
  views.renderBusy(busy());
}

/** A message as views.js draws it: a streaming answer's text comes from its stream, not from the list. */
function messageView(message, regenerable) {
  const answer = message.status === 'streaming' ? answerOf(message.id) : undefined;
  const actions = regenerable ? [{ label: 'Regenerate', onClick: () => regenerate(message) }] : [];
  return {
    ...message,
    text: answer ? answer.text : message.content,
    reasoning: answer ? answer.reasoning : message.reasoning,
    actions,
  };
}

/** The open chat answers, or is about to: Stop instead of Send. */
function busy() {
  return state.starting.has(state.chatId ?? NEW_CHAT) || state.messages.some((m) => m.status === 'streaming');
}

function chatShow(chatId) {
  state.chatId = chatId;
  if (chatId) sessionStorage.setItem(OPEN_CHAT_KEY, chatId);
  else sessionStorage.removeItem(OPEN_CHAT_KEY);
  renderChats();
}

function chatOpen(chatId) {
  views.clearError();
  views.sidebarShow(false);
  chatShow(chatId);
  state.messages = [];
  renderMessages();
  const chat = state.chats.get(chatId);
  if (chat) views.selectModel(chat.model);
  messagesLoad();
}

function chatNew() {
  views.clearError();
  views.sidebarShow(false);
  chatShow(null);
  state.messages = [];
  renderMessages();
  document.getElementById('composer').focus();
}

function chatDelete(chatId) {
  const title = state.chats.get(chatId)?.title || 'New chat';
  if (!window.confirm(`Delete the chat "${title}" and all its messages?`)) return;
  connection.request('delete_chat', { chat_id: chatId }).then(() => chatRemoved(chatId), problemShow);
}

function chatRemoved(chatId) {
  state.chats.delete(chatId);
  if (state.chatId === chatId) chatNew();
  else renderChats();
}

function chatPut(chat) {
  state.chats.set(chat.id, chat);
  renderChats();
  // The answer running in the open chat: any tab can follow it (this one is already reading the one it started).
  const running = chat.streaming_message_id;
  if (chat.id === state.chatId && running && !state.starting.has(chat.id)) answerShow(running, chat.id, null);
}

async function chatsLoad() {
  try {
    const data = await connection.request('list_chats', { limit: 100 });
    state.chats = new Map(data.chats.map((chat) => [chat.id, chat]));
    renderChats();
  } catch (error) {
    problemShow(error);
  }
}

/** Read the open chat's messages again: the server is the source of truth, pushes only keep it fresh. */
async function messagesLoad() {
  const chatId = state.chatId;
  const ticket = ++state.loading;
  if (!chatId) return;
  let data;
  try {
    data = await connection.request('list_messages', { chat_id: chatId, limit: 100 });
  } catch (error) {
    if (ticket !== state.loading) return;
    if (error.code === 'NOT_FOUND') chatRemoved(chatId);
    else problemShow(error);
    return;
  }
  if (ticket !== state.loading || chatId !== state.chatId) return;
  const stored = (m) => data.messages.some((s) => s.role === 'user' && s.content === m.content);
  const pending = state.messages.filter((m) => m.pending && !stored(m));
  state.messages = [...data.messages, ...pending];
  for (const message of data.messages) {
    if (message.status === 'streaming' && !state.starting.has(chatId)) answerJoin(message.id, chatId);
  }
  renderMessages();
}

/** A message the server sent (a push or an answer's end): replace it, adopt a pending send, or re-read. */
function messagePut(message) {
  const index = state.messages.findIndex((m) => m.id === message.id);
  const pending = state.messages.findIndex(
    (m) => m.pending && m.role === message.role && m.content === message.content,
  );
  if (index !== -1) state.messages[index] = message;
  else if (pending !== -1) state.messages[pending] = message;
  else return messagesLoad(); // another tab's turn, or a new version: the list says where it goes
  renderMessages();
}

/** An answer that streams: the message the server stores when it ends, without its text yet. */
function placeholder(messageId, chatId) {
  return { id: messageId, chat_id: chatId, role: 'assistant', status: 'streaming', content: '' };
}

/** Show an answer that streams in the open chat (its message may not be listed yet), and follow it. */
function answerShow(messageId, chatId, streamToken) {
  if (!state.messages.some((m) => m.id === messageId)) {
    state.messages.push(placeholder(messageId, chatId));
    renderMessages();
  }
  answerJoin(messageId, chatId, streamToken);
}

// ---- sending ------------------------------------------------------------------------------------------

function send() {
  const content = views.composerTake().trim();
  if (!content) return;
  views.clearError();
  const chatId = state.chatId;
  const pending = { id: `local-${++state.localIds}`, role: 'user', status: 'pending', content, pending: true };
  state.messages.push(pending);
  const context = { key: chatId ?? NEW_CHAT, pending };
  state.starting.add(context.key);
  renderMessages();
  answerStart(() => api.send({ chat_id: chatId, content, model: views.selectedModel() }), context);
}

function regenerate(message) {
  views.clearError();
  const context = { key: state.chatId };
  state.starting.add(context.key);
  renderMessages();
  answerStart(() => api.regenerate({ message_id: message.id, model: views.selectedModel() }), context);
}

function stop() {
  const running = state.messages.find((m) => m.status === 'streaming');
  if (running) api.stop(running.id).catch(problemShow);
}

/** The server stored a send: its pending message takes the stored id (unless a push brought it first). */
function pendingAccepted(pending, userMessageId) {
  const pushed = state.messages.some((m) => m.id === userMessageId);
  state.messages = pushed
    ? state.messages.filter((m) => m !== pending)
    : state.messages.map((m) => (m === pending ? { ...m, id: userMessageId, status: 'complete', pending: false } : m));
}

/** What the page does with each answer's events. @type {import('./streams.js').Sink} */
const answers = {
  started(answer, data, context) {
    if (context) state.starting.delete(context.key);
    // A first send from the "new chat" view that is still on screen: this is now that chat.
    if (context?.key === NEW_CHAT && state.chatId === null && state.messages.includes(context.pending)) {
      chatShow(answer.chatId);
    }
    if (context?.pending) pendingAccepted(context.pending, data.user_message_id);
    if (answer.chatId !== state.chatId) return renderMessages();
    const streaming = { ...placeholder(answer.messageId, answer.chatId), model: data.model };
    const replaced = state.messages.findIndex((m) => m.id === data.replaces || m.id === answer.messageId);
    if (replaced !== -1) state.messages[replaced] = { ...state.messages[replaced], ...streaming };
    else state.messages.push(streaming);
    renderMessages();
  },
  progressed(answer) {
    if (answer.chatId === state.chatId) views.renderAnswerText(answer.messageId, answer.text, answer.reasoning);
  },
  finished(answer, message) {
    if (answer.chatId === state.chatId && message && !message.deleted) messagePut(message);
  },
  failed(answer, error) {
    if (answer.chatId !== state.chatId) return;
    const index = state.messages.findIndex((m) => m.id === answer.messageId);
    if (index !== -1) {
      const failed = { ...state.messages[index], status: 'failed', content: answer.text, error_code: error.code };
      state.messages[index] = failed;
      renderMessages();
    }
    problemShow(error);
  },
  usage: views.renderUsage,
  refused(error, context) {
    state.starting.delete(context.key);
    if (context.pending) {
      state.messages = state.messages.filter((m) => m !== context.pending);
      views.composerRestore(context.pending.content);
    }
    renderMessages();
    problemShow(error);
  },
  lost(answer, error) {
    if (answer.chatId === state.chatId) messagesLoad();
    if (error?.code === 'NETWORK') problemShow(error);
  },
};

/** Another person now: signed in, signed out, in this tab or another. */
function identityChanged() {
  views.renderAccount(session());
  views.clearError();
  if (!session()) {
    state.chats.clear();
    chatNew();
  }
  connection.reconnect(); // its connect handler reads the chats and the open chat again
  modelsLoad();
}

let lastRefusal = 0;

/** The socket refused the handshake: an expired access token is refreshed once, anything else is shown. */
async function socketRefused(error) {
  const retried = Date.now() - lastRefusal < 10000;
  lastRefusal = Date.now();
  if (error.code === 'TOKEN_INVALID' && !retried && (await sessionRefresh())) connection.reconnect();
  else problemShow(error);
}

async function modelsLoad() {
  try {
    const { models } = await api.models();
    views.renderModels(models, state.chats.get(state.chatId)?.model ?? views.selectedModel());
  } catch (error) {
    problemShow(error);
  }
}

// ---- pushes -------------------------------------------------------------------------------------------

/** Management events by name. Replies that also arrive here (chats_list, messages_list) are handled where
 * they were asked for; an event this client does not know is left alone. */
const PUSHES = {
  usage_info: views.renderUsage,
  chat_created: ({ chat }) => chatPut(chat),
  chat_updated: ({ chat }) => chatPut(chat),
  chat_deleted: ({ chat_id }) => chatRemoved(chat_id),
  message_created: ({ chat_id, message }) => chat_id === state.chatId && messagePut(message),
  assistant_error: problemShow,
  generation_started: ({ chat_id, message_id, stream_token }) => {
    if (chat_id === state.chatId && !state.starting.has(chat_id)) answerShow(message_id, chat_id, stream_token);
  },
};

// ---- start --------------------------------------------------------------------------------------------

function wire() {
  const byId = (id) => document.getElementById(id);
  byId('composer-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (!busy()) send();
  });
  byId('composer').addEventListener('keydown', (event) => {
    // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition is not a send.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      byId('composer-form').requestSubmit();
    }
  });
  byId('stop').addEventListener('click', stop);
  byId('new-chat').addEventListener('click', chatNew);
  byId('error-close').addEventListener('click', views.clearError);
  byId('menu-toggle').addEventListener('click', () => views.sidebarShow(true));
  byId('backdrop').addEventListener('click', () => views.sidebarShow(false));
  document.addEventListener('keydown', (event) => event.key === 'Escape' && views.sidebarShow(false));
}

function main() {
  wire();
  accountWire();
  views.renderAccount(session());
  streamsInit(answers);
  onIdentityChange(identityChanged);
  connection = connect({
    auth: socketAuth,
    onPush: (event, data) => Object.hasOwn(PUSHES, event) && PUSHES[event](data),
    onConnect: () => {
      chatsLoad();
      messagesLoad();
    },
    onRefused: socketRefused,
    onStatus: views.renderConnection,
  });
  modelsLoad();
  // After a reload: the chat that was open, or the one whose answer was streaming, and that answer.
  const resumed = answersResume();
  const chatId = resumed[0]?.chatId ?? sessionStorage.getItem(OPEN_CHAT_KEY);
  if (chatId) chatOpen(chatId);
  else renderMessages();
}

main();
