// Server-Sent Events read from a fetch body: what the seed's reader meant, made correct. Events are split at
// the blank line that ends them, not at network chunks (a proxy may cut an event in two), and the event name
// is remembered across the lines of one event.

/** @typedef {{name: string, id: number | null, data: any}} SSEEvent */

const EVENT_END = /\r?\n\r?\n/;

/**
 * Parse one event block into its name, id and JSON data; null for a comment (`: ping`) or an empty block.
 * @param {string} block
 * @returns {SSEEvent | null}
 */
export function parseEvent(block) {
  let name = 'message';
  let id = null;
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon === 0) continue;
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') name = value;
    else if (field === 'id' && /^\d+$/.test(value)) id = Number(value);
    else if (field === 'data') data.push(value);
  }
  return data.length ? { name, id, data: JSON.parse(data.join('\n')) } : null;
}

/**
 * Read an event stream to its end, calling `onEvent` for each event in order.
 * @param {Response} response
 * @param {(event: SSEEvent) => void} onEvent
 */
export async function readSSE(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = EVENT_END.exec(buffer))) {
      const block = buffer.slice(0, end.index);
      buffer = buffer.slice(end.index + end[0].length);
      const event = parseEvent(block);
      if (event) onEvent(event);
    }
  }
}
