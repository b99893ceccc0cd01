// A second tab joins a running answer: a stock socket.io-client of the owner waits for `generation_started`,
// then follows the answer with fetch on GET …/stream (authorised by its stream_token) to the end. A socket of
// another caller listens all along. Prints {"event":"ready"} once both are connected, then, at the end, one JSON
// line {owner: [events], stranger: [events], followed: [{id, event, data}]}.
//
// usage: node join_running.mjs BASE_URL OWNER_AUTH_JSON STRANGER_AUTH_JSON
import { io } from 'socket.io-client';

const [base, ownerAuth, strangerAuth] = process.argv.slice(2);
const seen = { owner: [], stranger: [], followed: [] };
const finish = (code) => { owner.close(); stranger.close(); console.log(JSON.stringify(seen)); process.exit(code); };
const timer = setTimeout(() => finish(2), 40000);

const owner = io(`${base}/chats`, { auth: JSON.parse(ownerAuth) });
const stranger = io(`${base}/chats`, { auth: JSON.parse(strangerAuth) });
let connected = 0;
for (const socket of [owner, stranger]) {
  socket.on('connect', () => { if (++connected === 2) console.log(JSON.stringify({ event: 'ready' })); });
}
owner.onAny((event, data) => seen.owner.push({ event, data }));
stranger.onAny((event, data) => seen.stranger.push({ event, data }));

owner.on('generation_started', async ({ message_id, stream_token }) => {
  const url = `${base}/api/v1/messages/${message_id}/stream?stream_token=${encodeURIComponent(stream_token)}`;
  const response = await fetch(url);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = null, id = null, data = null;
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('id: ')) id = Number(line.slice(4));
        else if (line.startsWith('data: ')) data = JSON.parse(line.slice(6));
      }
      if (data !== null) seen.followed.push({ id, event, data });
    }
  }
  clearTimeout(timer);
  setTimeout(() => finish(0), 500);  // whatever is pushed at the end of the answer, for the stranger too
});
