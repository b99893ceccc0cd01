// Hostile payloads from real clients: a stock socket.io-client on `/chats` (every event with an
// acknowledgement) and a `ws` client on /ws/chats/ (text and binary frames). Prints one line:
// {"sio": [ack...], "sio_connected": bool, "ws": [frame...], "ws_closed": code|null}.
//
// usage: node socket_hostile.mjs BASE_URL ANON_ID
import { io } from 'socket.io-client';
import WebSocket from 'ws';

const [base, anonId] = process.argv.slice(2);
const deep = (n) => (n === 0 ? [] : [deep(n - 1)]);

async function viaSio() {
  const socket = io(`${base}/chats`, { auth: { anon_id: anonId }, transports: ['websocket'] });
  await new Promise((resolve) => socket.once('usage_info', resolve));
  const ask = (...args) => socket.timeout(10000).emitWithAck(...args).catch((error) => ({ timeout: error.message }));
  const acks = [
    await ask('rename_chat', { chat_id: 'x', title: 'a\u0000b' }),
    await ask('list_chats', { '\ud800': 1 }),
    await ask('list_chats', deep(1500)),  // deeper overflows socket.io-client's own stack
    await ask('list_chats', { pad: 'x'.repeat(100000) }),
    await ask('list_chats', Buffer.from([1, 2, 3])),
    await ask('list\u0000chats', {}),
    await ask('list_chats', { limit: 1 }, 'extra', 3),
    await ask('usage_info'),
  ];
  const connected = socket.connected;
  socket.close();
  return { acks, connected };
}

async function viaWs() {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/chats/`, { headers: { 'x-anon-id': anonId } });
  const frames = [];
  let closed = null;
  ws.on('message', (raw) => frames.push(JSON.parse(raw)));
  ws.on('close', (code) => { closed = code; });
  await new Promise((resolve) => ws.once('message', resolve));
  ws.send(Buffer.from([0xff, 0x00, 0x01]));
  ws.send(JSON.stringify({ event: 'rename_chat', data: { chat_id: 'x', title: 'a\u0000b' } }));
  ws.send(`{"event": "list_chats", "data": ${'['.repeat(5000)}${']'.repeat(5000)}}`);
  ws.send(JSON.stringify({ event: 'list_chats', data: { pad: 'x'.repeat(100000) } }));
  ws.send(JSON.stringify({ event: 'ping' }));
  const deadline = Date.now() + 10000;
  while (frames.length < 6 && closed === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  ws.close();
  return { frames: frames.slice(1), closed };
}

const [sio, ws] = await Promise.all([viaSio(), viaWs()]);
console.log(JSON.stringify({ sio, ws }));
process.exit(0);
