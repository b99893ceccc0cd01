// The seed's "SSE for Message Streaming" reader (../shared/seed/hybrid-architecture.md, section 2), run in
// Node with its built-in fetch. Two changes a real client must make, and nothing else: the URL is absolute
// (Node has no page origin) and `event` is declared before the loop (the seed's `const` inside the `if`
// cannot be read in the `else if`). Prints every (event, data) pair it handled as one JSON line at the end.
//
// usage: node seed_fetch.mjs BASE_URL JSON_HEADERS JSON_BODY
const [base, headersJson, bodyJson] = process.argv.slice(2);
const handled = [];

function handleSSEEvent(event, data) {
  handled.push({ event, data });
  switch (event) {
    case 'assistant_typing':
      break;
    case 'assistant_delta':
      break;
    case 'assistant_complete':
      break;
    case 'assistant_error':
      break;
    case 'usage_info':
      break;
  }
}

async function sendMessage() {
  const body = JSON.parse(bodyJson);
  const response = await fetch(`${base}/api/v1/messages/send`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...JSON.parse(headersJson),
    },
    body: JSON.stringify({
      chat_id: body.chat_id,
      model: body.model,
      content: body.content,
      temperature: 0.7,
    }),
  });

  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let event;

  while (true) {
    const { done, value } = await reader.read();
    if (done) break;

    const chunk = decoder.decode(value);
    const lines = chunk.split('\n');

    for (const line of lines) {
      if (line.startsWith('event: ')) {
        event = line.slice(7);
      } else if (line.startsWith('data: ')) {
        const data = JSON.parse(line.slice(6));
        handleSSEEvent(event, data);
      }
    }
  }
  return response.status;
}

const status = await sendMessage();
console.log(JSON.stringify({ status, handled }));
