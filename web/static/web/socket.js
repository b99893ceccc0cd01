// The management channel: the Socket.IO namespace /chats. Requests go out with an acknowledgement and come
// back as promises; everything the server pushes goes to one handler, which dispatches by event name.

import { io } from './vendor/socket.io.esm.min.js';

const REQUEST_TIMEOUT_MS = 15000;

/**
 * @typedef {Object} Connection
 * @property {(event: string, data?: object) => Promise<any>} request  the reply's data, or throws {code, error}
 * @property {() => void} reconnect  connect again with the current identity (after signing in or out)
 */

/**
 * Connect to /chats on this page's origin. `auth` is asked again at every (re)connection, so a reconnect
 * after a refresh or a sign-in presents the current token.
 * @param {{auth: () => object, onPush: (event: string, data: any) => void,
 *          onConnect: () => void, onRefused: (error: {code: string, error: string}) => void,
 *          onStatus: (status: 'connected' | 'disconnected') => void}} handlers
 * @returns {Connection}
 */
export function connect({ auth, onPush, onConnect, onRefused, onStatus }) {
  const socket = io('/chats', { auth: (send) => send(auth()) });

  socket.on('connect', () => {
    onStatus('connected');
    onConnect();
  });
  socket.on('disconnect', () => onStatus('disconnected'));
  // A refusal by the server carries {code, error} and is not retried by Socket.IO; a transport failure has
  // no data and is retried by Socket.IO itself.
  socket.on('connect_error', (err) => {
    onStatus('disconnected');
    if (err.data?.code) onRefused(err.data);
  });
  socket.onAny((event, data) => onPush(event, data));

  return {
    request(event, data = {}) {
      return socket
        .timeout(REQUEST_TIMEOUT_MS)
        .emitWithAck(event, data)
        .then(
          (reply) => {
            if (reply.event === 'error') throw reply.data;
            return reply.data;
          },
          () => {
            throw { code: 'TIMEOUT', error: 'The server did not answer in time.' };
          },
        );
    },
    reconnect() {
      socket.disconnect();
      socket.connect();
    },
  };
}
