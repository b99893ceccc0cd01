// Another guest's view of the server: `list_chats` COUNT times in a row on each socket kind (Socket.IO with an
// acknowledgement, /ws/chats/ waiting for the reply), both kinds at once. Prints one line:
// {"sio": {"answered", "ms": [...]}, "ws": {"answered", "ms": [...]}} with each round trip's milliseconds.
// A reply (or the welcome) that takes more than 10 s ends that socket's run.
//
// With PACE_MS, each socket waits that long between a reply and its next request.
//
// usage: node socket_probe.mjs BASE_URL ANON_ID COUNT [PACE_MS]
import { io } from 'socket.io-client';
import WebSocket from 'ws';

const [base, anonId, countText, paceText] = process.argv.slice(2);
const count = Number(countText);
const pace = () => new Promise((resolve) => setTimeout(resolve, Number(paceText ?? 0)));
const TIMEOUT_MS = 10000;
const within = (promise) => Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve(null), TIMEOUT_MS))]);

async function viaSio() {
  const socket = io(`${base}/chats`, { auth: { anon_id: anonId }, transports: ['websocket'] });
  const result = { answered: 0, ms: [] };
  if ((await within(new Promise((resolve) => socket.once('usage_info', resolve)))) === null) return result;
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    try {
      const reply = await socket.timeout(TIMEOUT_MS).emitWithAck('list_chats', { limit: 5 });
      if (reply.event !== 'chats_list') break;
    } catch { break; }
    result.ms.push(performance.now() - start);
    result.answered += 1;
    await pace();
  }
  socket.close();
  return result;
}

async function viaWs() {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/chats/`, { headers: { 'x-anon-id': anonId } });
  const frames = [];
  let waiting = null;
  ws.on('message', (raw) => { frames.push(JSON.parse(raw)); waiting?.(); });
  ws.on('error', () => {}); // a refused or broken socket ends the run below, as a reply that never came
  const next = async (event) => {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const index = frames.findIndex((frame) => frame.event === event || frame.event === 'error');
      if (index >= 0) return frames.splice(index, 1)[0];
      if (Date.now() > deadline) return null;
      await new Promise((resolve) => { waiting = resolve; setTimeout(resolve, 100); });
    }
  };
  const result = { answered: 0, ms: [] };
  if ((await next('usage_info')) === null) return result;
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    ws.send(JSON.stringify({ event: 'list_chats', data: { limit: 5 } }));
    const reply = await next('chats_list');
    if (reply?.event !== 'chats_list') break;
    result.ms.push(performance.now() - start);
    result.answered += 1;
    await pace();
  }
  ws.close();
  return result;
}

const [sio, ws] = await Promise.all([viaSio(), viaWs()]);
console.log(JSON.stringify({ sio, ws }));
process.exit(0);
