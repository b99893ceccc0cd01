// Who this browser is: a guest id, or a signed-in account's tokens. Both live in localStorage, so every tab of
// the origin is the same person and a reload keeps you signed in (docs/protocol.md, "Reference web client",
// says why and what that costs).

const ANON_KEY = 'chatsite.anonId';
const SESSION_KEY = 'chatsite.session';

/** @typedef {{username: string, access: string, refresh: string}} Session */

/** @type {Set<() => void>} */
const listeners = new Set();

/** A random guest id the server accepts (8-128 of A-Z a-z 0-9 _ -). getRandomValues, unlike randomUUID,
 * also works on a plain-http origin that is not localhost. */
function newAnonId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'guest-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @returns {string} this browser's guest id, made once and then kept */
export function anonId() {
  let id = localStorage.getItem(ANON_KEY);
  if (!id) {
    id = newAnonId();
    localStorage.setItem(ANON_KEY, id);
  }
  return id;
}

/** @returns {Session | null} */
export function session() {
  try {
    const value = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    return value && value.access && value.refresh ? value : null;
  } catch {
    return null;
  }
}

/** @param {Session} value */
export function sessionSave(value) {
  const before = session();
  localStorage.setItem(SESSION_KEY, JSON.stringify(value));
  // A refresh rotates the tokens of the same person: only a change of person is news.
  if (before?.username !== value.username) notify();
}

/** Sign out: forget the tokens and become a new guest (the old guest id was claimed by the account). */
export function sessionEnd() {
  localStorage.removeItem(SESSION_KEY);
  localStorage.setItem(ANON_KEY, newAnonId());
  notify();
}

/** @returns {Record<string, string>} the headers that name the caller on an HTTP request */
export function identityHeaders() {
  const current = session();
  return current ? { Authorization: `Bearer ${current.access}` } : { 'x-anon-id': anonId() };
}

/** @returns {{token: string} | {anon_id: string}} the Socket.IO handshake's auth */
export function socketAuth() {
  const current = session();
  return current ? { token: current.access } : { anon_id: anonId() };
}

/** Seconds until an access token expires (its `exp` claim); the signature is the server's business. */
export function secondsLeft(token) {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return payload.exp - Date.now() / 1000;
  } catch {
    return 0;
  }
}

/** Call `listener` when the person changes: signed in, signed out, here or in another tab. */
export function onIdentityChange(listener) {
  listeners.add(listener);
}

let notifying = false;

/** One call per change, although signing out writes two keys (and another tab sees two storage events). */
function notify() {
  if (notifying) return;
  notifying = true;
  queueMicrotask(() => {
    notifying = false;
    for (const listener of listeners) listener();
  });
}

window.addEventListener('storage', (event) => {
  if (event.key !== SESSION_KEY && event.key !== ANON_KEY) return;
  const before = event.key === SESSION_KEY ? JSON.parse(event.oldValue || 'null')?.username : null;
  const after = event.key === SESSION_KEY ? session()?.username : null;
  if (event.key === ANON_KEY || before !== after) notify();
});
