// A stock socket.io-client on the /chats namespace that prints every event it receives as a JSON line.
// Prints {"event":"connected"} once connected; exits after the assistant's message_created has arrived (and
// a moment for what follows it), on connect_error, or after 20 s.
//
// usage: node socket_listen.mjs BASE_URL AUTH_JSON [ORIGIN]
import { io } from 'socket.io-client';

const [base, authJson, origin] = process.argv.slice(2);
const print = (event, data) => console.log(JSON.stringify({ event, data }));
const done = (code) => { socket.close(); process.exit(code); };
const timer = setTimeout(() => done(2), 20000);

const socket = io(`${base}/chats`, {
  auth: JSON.parse(authJson),
  extraHeaders: origin ? { Origin: origin } : {},
});

socket.on('connect', () => print('connected', null));
socket.on('connect_error', (err) => { print('connect_error', { message: err.message, data: err.data }); done(0); });
socket.onAny((event, data) => {
  print(event, data);
  if (event === 'message_created' && data.message.role === 'assistant') {
    clearTimeout(timer);
    setTimeout(() => done(0), 500);
  }
});
