// The management protocol's plain WebSocket (/ws/chats/) with the `ws` client: authenticates with an auth
// frame, then sends a message as the same guest over SSE (fetch, read to the end) while the socket stays open,
// waits for the assistant's `message_created` push and lists the chats. Prints one JSON line with the send's
// HTTP status and every frame received; exits once the send was read and `chats_list` arrived.
//
// usage: node ws_chats.mjs BASE_URL ANON_ID
import WebSocket from 'ws';

const [base, anonId] = process.argv.slice(2);
const frames = [];
let sendStatus = null;
let listed;
const chatsListed = new Promise((resolve) => { listed = resolve; });
const timer = setTimeout(() => finish(2), 20000);

const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws/chats/`);
const emit = (event, data) => ws.send(JSON.stringify({ event, data }));

async function send() {
  const response = await fetch(`${base}/api/v1/messages/send`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'x-anon-id': anonId },
    body: JSON.stringify({ content: 'hello over the proxy' }),
  });
  await response.text();
  sendStatus = response.status;
}

ws.on('open', () => emit('auth', { anon_id: anonId }));
ws.on('message', (raw) => {
  const frame = JSON.parse(raw.toString());
  frames.push(frame);
  if (frame.event === 'usage_info' && frames.length === 1) {
    Promise.all([send(), chatsListed]).then(() => finish(0), (err) => finish(3, err));
  }
  if (frame.event === 'message_created' && frame.data.message.role === 'assistant') emit('list_chats', {});
  if (frame.event === 'chats_list') listed();
});
ws.on('error', (err) => finish(1, err));

function finish(code, err) {
  clearTimeout(timer);
  console.log(JSON.stringify({ sendStatus, frames, error: err ? String(err) : null }));
  ws.close();
  process.exit(code);
}
