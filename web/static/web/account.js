// Signing up, in and out: the dialog, and the buttons that open it. Saving the session is what tells the
// rest of the page (auth.js notifies it), so this module knows nothing about chats.

import { api } from './api.js';
import { session, sessionEnd, sessionSave } from './auth.js';
import { authDialog } from './views.js';

/** @param {'sign-in' | 'sign-up'} mode */
export function authOpen(mode) {
  authDialog.open(mode, session() ? '' : 'Your chats as a guest move to the account.');
}

async function authSubmit() {
  const { mode, username, password, email } = authDialog.values();
  authDialog.busy(true);
  try {
    const tokens =
      mode === 'sign-up' ? await api.register(username, password, email) : await api.signIn(username, password);
    authDialog.close();
    sessionSave({ username, access: tokens.access, refresh: tokens.refresh });
  } catch (error) {
    authDialog.fail(error.message || 'Could not reach the server.');
  } finally {
    authDialog.busy(false);
  }
}

export function accountWire() {
  const byId = (id) => document.getElementById(id);
  byId('sign-in').addEventListener('click', () => authOpen('sign-in'));
  byId('sign-up').addEventListener('click', () => authOpen('sign-up'));
  byId('sign-out').addEventListener('click', () => sessionEnd());
  byId('auth-form').addEventListener('submit', (event) => {
    event.preventDefault();
    authSubmit();
  });
  byId('auth-cancel').addEventListener('click', () => authDialog.close());
}
