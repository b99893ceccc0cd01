// Several stock socket.io-client "tabs" on the /chats namespace, driven through stdin. Prints every event each
// tab receives as a JSON line {tab, event, data}, and {tab, event: "connected"} once it is connected. Each stdin
// line {tab, emit, data} makes that tab emit the event with an acknowledgement, printed as {tab, ack}. Exits when
// stdin closes, or after 60 s.
//
// usage: node socket_tabs.mjs BASE_URL AUTH_JSON TABS
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

const [base, authJson, count] = process.argv.slice(2);
const print = (line) => console.log(JSON.stringify(line));
const tabs = [];
const done = () => { tabs.forEach((socket) => socket.close()); process.exit(0); };
setTimeout(done, 60000);

for (let tab = 0; tab < Number(count); tab++) {
  const socket = io(`${base}/chats`, { auth: JSON.parse(authJson) });
  socket.on('connect', () => print({ tab, event: 'connected' }));
  socket.on('connect_error', (err) => print({ tab, event: 'connect_error', data: err.data }));
  socket.onAny((event, data) => print({ tab, event, data }));
  tabs.push(socket);
}

createInterface({ input: process.stdin })
  .on('line', async (line) => {
    const { tab, emit, data } = JSON.parse(line);
    print({ tab, ack: await tabs[tab].emitWithAck(emit, data) });
  })
  .on('close', done);
