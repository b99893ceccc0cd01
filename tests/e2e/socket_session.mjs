// A guest with both kinds of management socket open on one server (Socket.IO `/chats` and the plain
// WebSocket `/ws/chats/`), and a Socket.IO "actor" for the same guest on another server, driven by lines on
// stdin. Every event either listener receives is printed as a JSON line {t, event, data}, where t is "sio" or
// "ws"; the actor's acknowledgements are printed with t "actor".
//
// Commands (one per line):
//   check          the WebSocket sends `ping`, the Socket.IO socket asks `usage_info` (with an ack)
//   rename TITLE   the actor renames the guest's newest chat, which pushes `chat_updated` to both listeners
//   quit           close everything and exit
//
// usage: node socket_session.mjs LISTEN_URL ACTOR_URL ANON_ID
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';
import WebSocket from 'ws';

const [listenUrl, actorUrl, anonId] = process.argv.slice(2);
const print = (t, event, data) => console.log(JSON.stringify({ t, event, data }));
const options = { auth: { anon_id: anonId }, transports: ['websocket'], reconnectionDelayMax: 1000 };

const sio = io(`${listenUrl}/chats`, options);
sio.on('connect', () => print('sio', 'connect', null));
sio.on('disconnect', (reason) => print('sio', 'disconnect', { reason }));
sio.onAny((event, data) => print('sio', event, data));

const ws = new WebSocket(`${listenUrl.replace('http', 'ws')}/ws/chats/`, { headers: { 'x-anon-id': anonId } });
ws.on('message', (raw) => { const frame = JSON.parse(raw); print('ws', frame.event, frame.data); });
ws.on('close', (code) => print('ws', 'close', { code }));
ws.on('error', (error) => print('ws', 'socket_error', { message: error.message }));

const actor = io(`${actorUrl}/chats`, options);

async function rename(title) {
  const listed = await actor.timeout(5000).emitWithAck('list_chats', { limit: 1 });
  const chat = listed.data.chats[0];
  const reply = await actor.timeout(5000).emitWithAck('rename_chat', { chat_id: chat.id, title });
  print('actor', reply.event, reply.data);
}

const commands = {
  check: () => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ event: 'ping' }));
    sio.timeout(2000).emitWithAck('usage_info', {}).catch(() => print('sio', 'no_ack', null));
  },
  rename: (title) => rename(title).catch((error) => print('actor', 'failed', { message: error.message })),
  quit: () => { sio.close(); actor.close(); ws.close(); process.exit(0); },
};

createInterface({ input: process.stdin }).on('line', (line) => {
  const [name, ...rest] = line.trim().split(' ');
  commands[name]?.(rest.join(' '));
});
setTimeout(() => process.exit(2), 120000);
