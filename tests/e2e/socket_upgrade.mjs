// The seed's "WebSocket Connection" snippet (section 1) with the stock socket.io-client and its default
// transports: the session opens over HTTP long-polling and then upgrades to WebSocket. Once upgraded it lists
// the chats, so that reply comes over the WebSocket. Prints one JSON line: the transport the session opened
// with, the transport it upgraded to, and every event received; exits on `chats_list` or `connect_error`.
//
// usage: node socket_upgrade.mjs BASE_URL TOKEN
import { io } from 'socket.io-client';

const [base, token] = process.argv.slice(2);
const events = [];
const transports = [];
const timer = setTimeout(() => finish(2), 20000);

const socket = io(`${base}/chats`, {
  auth: {
    token: token,
  },
});

socket.io.on('open', () => {
  transports.push(socket.io.engine.transport.name);
  socket.io.engine.on('upgrade', (transport) => {
    transports.push(transport.name);
    socket.emit('list_chats', { page: 0, limit: 20 });
  });
});

socket.onAny((event, data) => {
  events.push({ event, data });
  if (event === 'chats_list') finish(0);
});

socket.on('connect_error', (err) => {
  events.push({ event: 'connect_error', data: { message: err.message, data: err.data } });
  finish(1);
});

function finish(code) {
  clearTimeout(timer);
  console.log(JSON.stringify({ transports, current: socket.io.engine.transport.name, events }));
  socket.close();
  process.exit(code);
}
