// The seed's "WebSocket Connection" snippet (section 1) with the stock socket.io-client and its default
// transports (long-polling, then the upgrade to WebSocket), plus the seed's "WebSocket Errors" listener.
// Prints each received event as a JSON line; exits after `chats_list`, or on `connect_error`.
//
// usage: node seed_socket.mjs BASE_URL TOKEN
import { io } from 'socket.io-client';

const [base, token] = process.argv.slice(2);
const print = (event, data) => console.log(JSON.stringify({ event, data }));
const timer = setTimeout(() => { print('timeout', null); process.exit(2); }, 20000);

const socket = io(`${base}/chats`, {
  auth: {
    token: token, // Optional for anonymous users
  },
});

// Listen to usage info
socket.on('usage_info', (data) => {
  print('usage_info', data);
});

// List chats
socket.emit('list_chats', { page: 0, limit: 20 });
socket.on('chats_list', (data) => {
  print('chats_list', data);
  print('transport', socket.io.engine.transport.name);
  clearTimeout(timer);
  socket.close();
});

socket.on('assistant_error', (data) => {
  print('assistant_error', data);
});

socket.on('connect_error', (err) => {
  print('connect_error', { message: err.message, data: err.data });
  clearTimeout(timer);
  socket.close();
});
