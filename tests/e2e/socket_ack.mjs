// Socket.IO acknowledgements: every client event may pass a callback, which gets {event, data} — the same
// reply that is also emitted. Prints the acknowledged replies of a good and a bad event, then exits.
//
// usage: node socket_ack.mjs BASE_URL ANON_ID
import { io } from 'socket.io-client';

const [base, anonId] = process.argv.slice(2);
const socket = io(`${base}/chats`, { auth: { anon_id: anonId } });
const timer = setTimeout(() => process.exit(2), 20000);

socket.on('connect', async () => {
  const listed = await socket.emitWithAck('list_chats', { page: 0, limit: 5 });
  const refused = await socket.emitWithAck('drop_tables', {});
  const renamed = await socket.emitWithAck('rename_chat', { chat_id: 'nope', title: 'x' });
  console.log(JSON.stringify({ listed, refused, renamed }));
  clearTimeout(timer);
  socket.close();
});
