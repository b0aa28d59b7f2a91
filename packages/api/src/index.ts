export * from './quantity.js';
export * from './duration.js';
export * from './schema.js';
export * from './json_codec.js';
export * from './registry.js';
export * from './envelope.js';
export { WebSocketConn, WebSocketError, acceptKey, MAX_WEBSOCKET_MESSAGE } from './websocket.js';
export * from './startup_error.js';
