// Answers as they stream: start one with a POST and read its body, follow it again after a dropped
// connection or a reload (GET …/stream from the last event id seen), join one that another tab started.
// Each answer's text and last event id are kept together in sessionStorage, so a reload goes on from exactly
// where the page was: no text lost, none repeated.

import { api, ApiError, errorOf } from './api.js';
import { readSSE } from './sse.js';

const STORE_KEY = 'chatsite.answers';
const PERSIST_EVERY_MS = 200;
const MAX_FAILURES = 8;

/**
 * @typedef {Object} Answer
 * @property {string | null} messageId  null until the stream's first event names it
 * @property {string | null} chatId
 * @property {string | null} streamToken  only for answers this tab started (or was told of)
 * @property {number} lastEventId  the highest event id applied; events at or below it are skipped
 * @property {string} text
 * @property {string} reasoning
 * @property {boolean} ended  true after the terminal event (complete, regenerated or error)
 */

/**
 * What the app does with answers. Each is called with the answer as it is after the event.
 * @typedef {Object} Sink
 * @property {(answer: Answer, data: any, context: any) => void} started  assistant_typing / _regenerating
 * @property {(answer: Answer) => void} progressed  the text or the reasoning grew
 * @property {(answer: Answer, message: any) => void} finished  the stored message (complete or stopped)
 * @property {(answer: Answer, error: {code: string, error: string}) => void} failed  an error in the stream
 * @property {(info: any) => void} usage
 * @property {(error: ApiError, context: any) => void} refused  the send or regenerate was not started
 * @property {(answer: Answer, error: ApiError | null) => void} lost  can no longer be followed: re-read it
 */

/** @type {Map<string, Answer>} */
const answers = new Map();
/** @type {Sink} */
let sink;
let persistTimer = 0;

/** @param {Partial<Answer>} fields @returns {Answer} */
function answerNew(fields = {}) {
  return {
    messageId: null,
    chatId: null,
    streamToken: null,
    lastEventId: 0,
    text: '',
    reasoning: '',
    ended: false,
    ...fields,
  };
}

const HANDLERS = {
  assistant_typing: started,
  assistant_regenerating: started,
  assistant_delta: (answer, data) => {
    answer.text = data.full ? data.delta : answer.text + data.delta; // a replay from the database is whole
    sink.progressed(answer);
  },
  assistant_reasoning_delta: (answer, data) => {
    answer.reasoning = data.full ? data.delta : answer.reasoning + data.delta;
    sink.progressed(answer);
  },
  assistant_complete: finished,
  assistant_regenerated: finished,
  usage_info: (answer, data) => sink.usage(data),
  assistant_error: (answer, data, context) => {
    answer.ended = true;
    if (answer.messageId) sink.failed(answer, data);
    else sink.refused(new ApiError(data.code, data.error), context);
  },
};

function started(answer, data, context) {
  answer.messageId = data.message_id;
  answer.chatId = data.chat_id;
  answer.streamToken = data.stream_token || answer.streamToken;
  answers.set(answer.messageId, answer);
  sink.started(answer, data, context);
}

function finished(answer, data) {
  answer.ended = true;
  answer.text = data.message?.content ?? answer.text;
  sink.finished(answer, data.message);
}

/** Apply one event: each id once, in order, and nothing but the closing usage_info after the end. */
function apply(answer, { name, id, data }, context) {
  if (id !== null) {
    if (id <= answer.lastEventId) return;
    answer.lastEventId = id;
  }
  // An event this client does not know (a newer server's) is skipped; after the end only usage_info counts.
  if (!Object.hasOwn(HANDLERS, name) || (answer.ended && name !== 'usage_info')) return;
  HANDLERS[name](answer, data, context);
  persistSoon();
}

/** @param {Sink} appSink */
export function streamsInit(appSink) {
  sink = appSink;
  window.addEventListener('pagehide', persist);
}

/** @returns {Answer | undefined} the answer with this id that this tab follows */
export function answerOf(messageId) {
  return answers.get(messageId);
}

/**
 * Send or regenerate, and follow the answer to its end.
 * @param {() => Promise<Response>} request  api.send(...) or api.regenerate(...)
 * @param {any} context  handed back to `started` and `refused` (which pending message this was)
 */
export async function answerStart(request, context) {
  let response;
  try {
    response = await request();
  } catch {
    sink.refused(new ApiError('NETWORK', 'Could not reach the server. Check your connection and try again.'), context);
    return;
  }
  if (!response.ok) {
    sink.refused(await errorOf(response), context);
    return;
  }
  const answer = answerNew();
  try {
    await readSSE(response, (event) => apply(answer, event, context));
  } catch {
    // The connection dropped: the answer goes on on the server, and follow() picks it up below.
  }
  if (answer.messageId) await follow(answer);
}

/**
 * Follow an answer this tab is not reading yet: one that a push or a message list shows streaming.
 * @param {string} messageId @param {string} chatId @param {string | null} [streamToken]
 */
export function answerJoin(messageId, chatId, streamToken = null) {
  if (answers.has(messageId)) return;
  const answer = answerNew({ messageId, chatId, streamToken });
  answers.set(messageId, answer);
  follow(answer);
}

/** After a reload: show and follow again the answers this tab was reading. @returns {Answer[]} */
export function answersResume() {
  let stored = [];
  try {
    stored = JSON.parse(sessionStorage.getItem(STORE_KEY) || '[]');
  } catch {
    // an unreadable entry is dropped: the message list still shows the answer
  }
  const resumed = stored.map((fields) => answerNew({ ...fields, ended: false }));
  for (const answer of resumed) {
    answers.set(answer.messageId, answer);
    follow(answer);
  }
  return resumed;
}

/**
 * Read `GET …/stream` from the last event id until the answer ends. A dropped connection is read again
 * (with a growing pause, as EventSource would); 204 means there is nothing more to read; 404 with a stream
 * token (expired after 15 minutes) is tried once more with the caller's own headers.
 * @param {Answer} answer
 */
async function follow(answer) {
  let failures = 0;
  while (!answer.ended && failures < MAX_FAILURES) {
    if (failures) await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** failures, 8000)));
    const seen = answer.lastEventId;
    let response;
    try {
      response = await api.stream(answer.messageId, { streamToken: answer.streamToken, lastEventId: seen });
    } catch {
      failures++;
      continue;
    }
    if (response.status === 404 && answer.streamToken) {
      answer.streamToken = null;
      continue;
    }
    if (!response.ok || response.status === 204) {
      answerEnd(answer, response.status === 204 ? null : await errorOf(response));
      return;
    }
    try {
      await readSSE(response, (event) => apply(answer, event));
    } catch {
      // dropped again: go on from the last event applied
    }
    failures = answer.lastEventId > seen ? 0 : failures + 1;
  }
  if (answer.ended) answerEnd(answer, null, false);
  else answerEnd(answer, new ApiError('NETWORK', 'Lost the connection to the answer. Reload the page to see it.'));
}

function answerEnd(answer, error, lost = true) {
  answer.ended = true;
  answers.delete(answer.messageId);
  persist();
  if (lost) sink.lost(answer, error);
}

function persistSoon() {
  if (!persistTimer) persistTimer = setTimeout(persist, PERSIST_EVERY_MS);
}

/** One write holds each answer's text with the id of the last event in it, so the two always agree. */
function persist() {
  clearTimeout(persistTimer);
  persistTimer = 0;
  const running = [...answers.values()].filter((answer) => !answer.ended);
  const fields = running.map(({ messageId, chatId, streamToken, lastEventId, text, reasoning }) => ({
    messageId,
    chatId,
    streamToken,
    lastEventId,
    text,
    reasoning,
  }));
  if (fields.length) sessionStorage.setItem(STORE_KEY, JSON.stringify(fields));
  else sessionStorage.removeItem(STORE_KEY);
}
