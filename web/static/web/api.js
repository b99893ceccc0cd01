// The REST side of the protocol: one fetch wrapper that names the caller and keeps the access token fresh,
// and one small function per endpoint.

import { identityHeaders, secondsLeft, session, sessionEnd, sessionSave } from './auth.js';

/** An error the server answered with: `code` is what to switch on, `message` the server's sentence. */
export class ApiError extends Error {
  /** @param {string} code @param {string} message @param {number} [status] */
  constructor(code, message, status = 0) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * Fetch a path of this origin as the current caller. An access token about to expire is refreshed first,
 * and a request refused with 401 while signed in is refreshed and sent once more (nothing the server refuses
 * with 401 has been written, so a second try is safe, a send included).
 * @param {string} path
 * @param {{method?: string, body?: unknown, headers?: Record<string, string>, signal?: AbortSignal}} [options]
 * @returns {Promise<Response>}
 */
export async function apiFetch(path, options = {}) {
  if (session() && secondsLeft(session().access) < 30) await refresh(session().access);
  const sentWith = session()?.access;
  let response = await fetchAs(path, options);
  if (response.status === 401 && sentWith && (await refresh(sentWith))) response = await fetchAs(path, options);
  return response;
}

function fetchAs(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const init = { method, signal, headers: { ...identityHeaders(), ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return fetch(path, init);
}

/**
 * Swap the refresh token for new tokens, once for all tabs: refresh tokens rotate and a used one is refused,
 * so two tabs refreshing with the same token would sign one of them out. Under the lock, a tab that finds
 * the stored access token already replaced (by another tab) just uses the new one.
 * @param {string} failedAccess the access token that is expiring or was refused
 * @returns {Promise<boolean>} whether there is a usable session afterwards
 */
function refresh(failedAccess) {
  const run = async () => {
    const current = session();
    if (!current) return false;
    if (current.access !== failedAccess) return true;
    const response = await fetch('/api/v1/auth/token/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh: current.refresh }),
    });
    if (response.status === 401) {
      sessionEnd(); // the refresh token expired or was used elsewhere: this browser is a guest again
      return false;
    }
    if (!response.ok) return false;
    sessionSave({ ...current, ...(await response.json()) });
    return true;
  };
  return navigator.locks ? navigator.locks.request('chatsite.refresh', run) : run();
}

/** Refresh now (a socket refused the access token). @returns {Promise<boolean>} still signed in */
export function sessionRefresh() {
  const current = session();
  return current ? refresh(current.access) : Promise.resolve(false);
}

/** The `{code, error}` of a refused response, whatever its body: JSON, or a one-event SSE stream. */
export async function errorOf(response) {
  const text = await response.text().catch(() => '');
  const dataLine = text.split('\n').find((line) => line.startsWith('data:'));
  try {
    const body = JSON.parse(dataLine ? dataLine.slice(5) : text);
    if (body && body.code) return new ApiError(body.code, body.error || body.code, response.status);
  } catch {
    // not JSON: an HTML error page of a proxy, say
  }
  return new ApiError(`HTTP_${response.status}`, `The server answered ${response.status}.`, response.status);
}

async function json(path, options) {
  const response = await apiFetch(path, { ...options, headers: { Accept: 'application/json' } });
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

export const api = {
  /** @returns {Promise<{models: Array<{name: string, default: boolean}>}>} */
  models: () => json('/api/v1/models'),
  usage: () => json('/api/v1/usage'),
  me: () => json('/api/v1/auth/me'),
  /** Sign up. The guest's x-anon-id goes along, so the server moves the guest's chats to the account. */
  register: (username, password, email) =>
    json('/api/v1/auth/register', { method: 'POST', body: { username, password, ...(email ? { email } : {}) } }),
  /** Sign in, also with the guest's x-anon-id: chats started as a guest join the account. */
  signIn: (username, password) => json('/api/v1/auth/token', { method: 'POST', body: { username, password } }),
  stop: (messageId) => json(`/api/v1/messages/${messageId}/stop`, { method: 'POST' }),
  /** The streaming endpoints answer a Response whose body the caller reads as SSE. */
  send: (body) => apiFetch('/api/v1/messages/send', { method: 'POST', body, headers: { Accept: 'text/event-stream' } }),
  regenerate: (body) =>
    apiFetch('/api/v1/messages/regenerate', { method: 'POST', body, headers: { Accept: 'text/event-stream' } }),
  /**
   * Follow an answer from after `lastEventId`. With a stream token only that token decides; without one (an
   * answer this tab did not start) the caller's own headers do.
   */
  stream: (messageId, { streamToken, lastEventId, signal }) => {
    const query = streamToken ? `?stream_token=${encodeURIComponent(streamToken)}` : '';
    const headers = { Accept: 'text/event-stream', 'Last-Event-ID': String(lastEventId || 0) };
    return apiFetch(`/api/v1/messages/${messageId}/stream${query}`, { headers, signal });
  },
};
