// What went wrong, in words, with what the person can do about it. `code` decides; the server's sentence is
// shown as it is (it may change, the code does not).

import { authOpen } from './account.js';
import { ApiError } from './api.js';
import { session } from './auth.js';
import { showError } from './views.js';

/** Codes of an answer that started and then failed: Regenerate is the way on. */
const ANSWER_FAILURES = new Set([
  'UPSTREAM_ERROR',
  'UPSTREAM_TIMEOUT',
  'UPSTREAM_STALLED',
  'UPSTREAM_DISCONNECTED',
  'UPSTREAM_BAD_RESPONSE',
  'GENERATION_LOST',
  'INTERNAL_ERROR',
]);

/** @typedef {{label: string, onClick: () => void, primary?: boolean}} Action */

/** @type {Record<string, (message: string) => [string, Action[]]>} */
const PROBLEMS = {
  ANON_LIMIT_REACHED: (message) => [
    `${message} An account keeps the chats you have.`,
    [
      { label: 'Sign up', primary: true, onClick: () => authOpen('sign-up') },
      { label: 'Sign in', onClick: () => authOpen('sign-in') },
    ],
  ],
  INSUFFICIENT_BALANCE: (message) => [`${message} Pick a cheaper model, or add credits to your account.`, []],
  MODEL_NOT_ALLOWED: (message) => [
    `${message} Or pick another model.`,
    session() ? [] : [{ label: 'Sign in', primary: true, onClick: () => authOpen('sign-in') }],
  ],
};

/**
 * Show a problem: an ApiError, a socket's `{code, error}`, or anything thrown.
 * @param {ApiError | {code?: string, error?: string, message?: string}} error
 */
export function problemShow(error) {
  const code = error?.code || 'ERROR';
  const message =
    (error instanceof ApiError ? error.message : error?.error || error?.message) || 'Something went wrong.';
  if (Object.hasOwn(PROBLEMS, code)) showError(...PROBLEMS[code](message));
  else if (ANSWER_FAILURES.has(code)) showError(`The answer failed: ${message} Try Regenerate.`);
  else showError(message);
}
