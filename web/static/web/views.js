// Rendering: everything that touches the page. Text from the server (answers, titles, errors) only ever goes
// in through textContent, so HTML in an answer is shown as the characters it is and never becomes markup.

const $ = (id) => document.getElementById(id);

/**
 * Make an element. `text` is set as textContent; every other prop is an attribute (`dataset` sets data-*).
 * @param {string} tag
 * @param {{text?: string, className?: string, dataset?: Record<string, string>, [attr: string]: any}} [props]
 * @param {Array<Node>} [children]
 */
function el(tag, { text, className, dataset, ...attributes } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  Object.assign(node.dataset, dataset || {});
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** @param {{label: string, onClick: () => void, primary?: boolean, testid?: string}} action */
function button({ label, onClick, primary, testid }) {
  const node = el('button', { type: 'button', text: label, className: primary ? 'primary' : '' });
  if (testid) node.dataset.testid = testid;
  node.addEventListener('click', onClick);
  return node;
}

/** "0.500000" → "0.5": credits are decimal strings and stay strings (no float rounding). */
function credits(amount) {
  return String(amount)
    .replace(/(\.\d*?)0+$/, '$1')
    .replace(/\.$/, '');
}

export function renderUsage(info) {
  $('usage').textContent = info.anonymous
    ? `${info.remaining} of ${info.limit} free messages left`
    : `${credits(info.available)} credits`;
  $('usage').title = info.anonymous
    ? 'Free messages for guests'
    : `Balance ${credits(info.balance)}, ${credits(info.reserved)} held by running answers`;
}

/** @param {{username: string} | null} session */
export function renderAccount(session) {
  $('account-name').textContent = session ? session.username : 'Guest';
  $('sign-in').hidden = Boolean(session);
  $('sign-up').hidden = Boolean(session);
  $('sign-out').hidden = !session;
}

/** @param {'connected' | 'disconnected'} status */
export function renderConnection(status) {
  $('connection').textContent = status === 'connected' ? '' : 'Reconnecting…';
}

/** @param {Array<{name: string, default: boolean}>} models @param {string | null} selected */
export function renderModels(models, selected) {
  const picker = $('model');
  const chosen = models.some((model) => model.name === selected) ? selected : models.find((m) => m.default)?.name;
  picker.replaceChildren(...models.map((model) => el('option', { value: model.name, text: model.name })));
  if (chosen) picker.value = chosen;
}

export function selectedModel() {
  return $('model').value || null;
}

export function selectModel(name) {
  if ([...$('model').options].some((option) => option.value === name)) $('model').value = name;
}

/**
 * @param {Array<{id: string, title: string}>} chats
 * @param {string | null} currentId
 * @param {{open: (id: string) => void, remove: (id: string) => void}} on
 */
export function renderChats(chats, currentId, on) {
  const items = chats.map((chat) => {
    const title = chat.title || 'New chat';
    const open = el('button', { type: 'button', className: 'chat-open', text: title, title });
    open.addEventListener('click', () => on.open(chat.id));
    const remove = el('button', {
      type: 'button',
      className: 'icon-button chat-delete',
      text: '✕',
      'aria-label': `Delete chat ${title}`,
    });
    remove.addEventListener('click', () => on.remove(chat.id));
    const item = el('li', { className: 'chat-item', dataset: { testid: 'chat-item', id: chat.id } }, [open, remove]);
    if (chat.id === currentId) open.setAttribute('aria-current', 'page');
    return item;
  });
  $('chat-list').replaceChildren(...items);
}

/** @type {Map<string, HTMLElement>} */
const messageNodes = new Map();

/**
 * @typedef {Object} MessageView
 * @property {string} id
 * @property {'user' | 'assistant'} role
 * @property {string} status
 * @property {string} text
 * @property {string} [reasoning]
 * @property {string} [model]
 * @property {number} [version]
 * @property {number} [versions]
 * @property {string} [error_code]
 * @property {Array<{label: string, onClick: () => void}>} actions
 */

/** Show the current chat's messages in order, reusing the node of each message id. @param {MessageView[]} views */
export function renderMessages(views) {
  const list = $('messages');
  const follow = nearBottom(list);
  const keep = new Set(views.map((view) => view.id));
  for (const [id, node] of messageNodes) {
    if (!keep.has(id)) {
      node.remove();
      messageNodes.delete(id);
    }
  }
  views.forEach((view, index) => {
    let node = messageNodes.get(view.id);
    if (!node) {
      node = messageNode();
      messageNodes.set(view.id, node);
    }
    messageFill(node, view);
    // Move a node only when it is out of place: a moved node loses focus and a screen reader's place.
    if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
  });
  $('empty').hidden = views.length > 0;
  if (follow) list.scrollTop = list.scrollHeight;
}

function messageNode() {
  return el('li', { className: 'message', dataset: { testid: 'message' } }, [
    el('p', { className: 'message-meta' }),
    el('details', { className: 'reasoning', hidden: '' }, [
      el('summary', { text: 'Reasoning' }),
      el('div', { className: 'reasoning-text' }),
    ]),
    el('div', { className: 'message-text', dataset: { testid: 'message-text' } }),
    el('div', { className: 'message-actions' }),
  ]);
}

/** @param {HTMLElement} node @param {MessageView} view */
function messageFill(node, view) {
  node.dataset.id = view.id;
  node.dataset.role = view.role;
  node.dataset.status = view.status;
  // A screen reader announces the answer once it is whole, not at every word.
  node.setAttribute('aria-busy', String(view.status === 'streaming'));
  node.querySelector('.message-meta').textContent = metaOf(view);
  textFill(node, view.text, view.reasoning);
  node.querySelector('.message-actions').replaceChildren(...view.actions.map(button));
}

function metaOf(view) {
  const parts = [view.role === 'user' ? 'You' : view.model || 'Assistant'];
  if (view.versions > 1) parts.push(`version ${view.version} of ${view.versions}`);
  if (view.status === 'stopped') parts.push('stopped');
  if (view.status === 'failed') parts.push(`failed${view.error_code ? ` (${view.error_code})` : ''}`);
  return parts.join(' · ');
}

function textFill(node, text, reasoning) {
  node.querySelector('.message-text').textContent = text;
  const details = node.querySelector('.reasoning');
  details.hidden = !reasoning;
  details.querySelector('.reasoning-text').textContent = reasoning || '';
}

/** The fast path while an answer streams: only its text changes. */
export function renderAnswerText(messageId, text, reasoning) {
  const node = messageNodes.get(messageId);
  if (!node) return;
  const list = $('messages');
  const follow = nearBottom(list);
  textFill(node, text, reasoning);
  if (follow) list.scrollTop = list.scrollHeight;
}

function nearBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

/**
 * @param {string} text
 * @param {Array<{label: string, onClick: () => void, primary?: boolean}>} [actions]
 */
export function showError(text, actions = []) {
  $('error-text').textContent = text;
  $('error-actions').replaceChildren(...actions.map(button));
  $('error').hidden = false;
}

export function clearError() {
  $('error').hidden = true;
}

/** While the current chat answers, Stop replaces Send (a chat runs one answer at a time). */
export function renderBusy(busy) {
  $('stop').hidden = !busy;
  $('send').hidden = busy;
}

export function composerTake() {
  const text = $('composer').value;
  $('composer').value = '';
  return text;
}

export function composerRestore(text) {
  if (!$('composer').value) $('composer').value = text;
  $('composer').focus();
}

/** On a narrow screen the chat list is a drawer. */
export function sidebarShow(shown) {
  document.body.classList.toggle('sidebar-open', shown);
  $('menu-toggle').setAttribute('aria-expanded', String(shown));
  $('backdrop').hidden = !shown;
}

export const authDialog = {
  /** @param {'sign-in' | 'sign-up'} mode @param {string} [note] */
  open(mode, note = '') {
    const signUp = mode === 'sign-up';
    $('auth-dialog').dataset.mode = mode;
    $('auth-title').textContent = signUp ? 'Sign up' : 'Sign in';
    $('auth-submit').textContent = signUp ? 'Sign up' : 'Sign in';
    $('auth-note').textContent = note;
    $('auth-email-row').hidden = !signUp;
    $('auth-password').autocomplete = signUp ? 'new-password' : 'current-password';
    $('auth-error').hidden = true;
    $('auth-dialog').showModal();
    $('auth-username').focus();
  },
  /** @returns {{mode: string, username: string, password: string, email: string}} */
  values() {
    return {
      mode: $('auth-dialog').dataset.mode,
      username: $('auth-username').value.trim(),
      password: $('auth-password').value,
      email: $('auth-email').value.trim(),
    };
  },
  busy(busy) {
    $('auth-submit').disabled = busy;
  },
  fail(text) {
    $('auth-error').textContent = text;
    $('auth-error').hidden = false;
  },
  close() {
    $('auth-form').reset();
    $('auth-dialog').close();
  },
};
