// Feeds the web client's SSE reader a body in the given chunks (base64 bytes, so a chunk can end inside a
// UTF-8 character) and prints the events it read, as JSON.
import { readSSE } from '../../web/static/web/sse.js';

const chunks = JSON.parse(process.argv[2]).map((chunk) => Buffer.from(chunk, 'base64'));
const body = new ReadableStream({
  start(controller) {
    for (const chunk of chunks) controller.enqueue(new Uint8Array(chunk));
    controller.close();
  },
});
const events = [];
await readSSE(new Response(body), (event) => events.push(event));
process.stdout.write(JSON.stringify(events));
