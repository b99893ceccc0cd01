// Holds one socket of each management transport open: Socket.IO on /chats (WebSocket transport) and the plain
// /ws/chats/ WebSocket, both as one guest. Prints "open" once both are connected and authenticated, then keeps
// them until its stdin closes (or 30 s pass), closes both and exits.
//
// usage: node socket_hold.mjs BASE_URL ANON_ID
import { io } from 'socket.io-client';
import WebSocket from 'ws';

const [base, anonId] = process.argv.slice(2);
const fail = (why) => { console.log(JSON.stringify({ error: String(why) })); process.exit(1); };
setTimeout(() => fail('timeout'), 30000).unref();

const sio = io(`${base}/chats`, { auth: { anon_id: anonId }, transports: ['websocket'] });
const sioOpen = new Promise((resolve) => {
  sio.on('connect', resolve);
  sio.on('connect_error', (err) => fail(err.message));
});

const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws/chats/`, { headers: { 'x-anon-id': anonId } });
const wsOpen = new Promise((resolve) => {
  ws.on('message', (raw) => { if (JSON.parse(raw.toString()).event === 'usage_info') resolve(); });
  ws.on('error', fail);
});

await Promise.all([sioOpen, wsOpen]);
console.log('open');
process.stdin.resume();
process.stdin.on('end', () => {
  sio.close();
  ws.close();
  ws.on('close', () => process.exit(0));
});
