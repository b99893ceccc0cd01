// A native EventSource (the `eventsource` package) resuming a message's stream: authorised by the
// stream_token in the URL, starting after the Last-Event-ID header. Prints one JSON line with every event
// it got (id, name, data), after the stream's last event.
//
// usage: node resume_eventsource.mjs BASE_URL MESSAGE_ID STREAM_TOKEN LAST_EVENT_ID
import { EventSource } from 'eventsource';

const [base, messageId, token, lastEventId] = process.argv.slice(2);
const received = [];
const timer = setTimeout(() => finish(2), 30000);

const source = new EventSource(`${base}/api/v1/messages/${messageId}/stream?stream_token=${token}`, {
  fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, 'Last-Event-ID': lastEventId } }),
});

function finish(code) {
  clearTimeout(timer);
  source.close();
  console.log(JSON.stringify({ received }));
  process.exit(code);
}

for (const name of ['assistant_reasoning_delta', 'assistant_delta', 'assistant_complete', 'assistant_error', 'usage_info']) {
  source.addEventListener(name, (event) => {
    received.push({ id: Number(event.lastEventId), name, data: JSON.parse(event.data) });
    if (name === 'usage_info' || name === 'assistant_error') finish(0);
  });
}
