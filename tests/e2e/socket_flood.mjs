// One guest floods a management socket with `list_chats` as fast as the server answers them (WINDOW events
// unanswered at any time), until stdin closes (or 45 s pass). Prints {"event":"flooding"} once it has had 500
// replies, and at the end a summary line: {"event":"summary","data":{sent, replies, refused, retry_after_ms,
// closed, capped}}.
// `refused` counts RATE_LIMITED errors, `retry_after_ms` is the first one's hint, `closed` is the close code
// (/ws/chats/) or disconnect reason (Socket.IO) if the server closed the socket, and `capped` says the flood
// ended by itself after 45 s instead of being stopped. With `reconnect`, a socket the server closes is
// replaced by a new one and the flood goes on; `closes` counts them.
//
// usage: node socket_flood.mjs BASE_URL sio|ws ANON_ID [WINDOW] [reconnect]
import { io } from 'socket.io-client';
import WebSocket from 'ws';

const [base, transport, anonId, windowText, mode] = process.argv.slice(2);
const WINDOW = Number(windowText ?? 3000);
const RECONNECT = mode === 'reconnect';
const print = (event, data) => console.log(JSON.stringify({ event, data }));
const stats = { sent: 0, replies: 0, refused: 0, retry_after_ms: null, closed: null, closes: 0, capped: false };
const frame = JSON.stringify({ event: 'list_chats', data: { limit: 1 } });
let announced = false;
let stopped = false;
let socket = null;
let unanswered = 0;

function reply(event, data) {
  stats.replies += 1;
  unanswered -= 1;
  if (event === 'error' && data.code === 'RATE_LIMITED') {
    stats.refused += 1;
    stats.retry_after_ms ??= data.retry_after_ms ?? null;
  }
  if (!announced && stats.replies >= 500) { announced = true; print('flooding', null); }
}

function finish() {
  if (stopped) return;
  stopped = true;
  print('summary', stats);
  process.exit(0);
}

function closed(how) {
  if (stopped) return;
  if (!RECONNECT) { stats.closed = how; finish(); return; }
  stats.closes += 1;
  socket = null;
  open();
}

function connectSio() {
  const socket = io(`${base}/chats`, { auth: { anon_id: anonId }, transports: ['websocket'], reconnection: false });
  socket.onAny((event, data) => { if (event !== 'usage_info') reply(event, data); });
  socket.on('disconnect', closed);
  return {
    ready: new Promise((resolve) => socket.once('usage_info', resolve)),
    send: () => socket.emit('list_chats', { limit: 1 }),
  };
}

function connectWs() {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/chats/`, { headers: { 'x-anon-id': anonId } });
  let welcomed;
  const ready = new Promise((resolve) => { welcomed = resolve; });
  ws.on('message', (raw) => {
    const { event, data } = JSON.parse(raw);
    if (event === 'usage_info') welcomed(); else reply(event, data);
  });
  ws.on('close', closed);
  ws.on('error', (error) => closed(error.message));
  return { ready, send: () => ws.send(frame) };
}

async function open() {
  const next = transport === 'ws' ? connectWs() : connectSio();
  await next.ready;
  unanswered = 0;
  socket = next;
}

function flood() {
  if (stopped) return;
  for (let i = 0; socket !== null && i < 100 && unanswered < WINDOW; i += 1) {
    socket.send();
    stats.sent += 1;
    unanswered += 1;
  }
  setImmediate(flood);
}
await open();
flood();
process.stdin.on('end', finish);
process.stdin.resume();
setTimeout(() => { stats.capped = true; finish(); }, 45000);
