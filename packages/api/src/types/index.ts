/** The typed object model: generated kinds and the generic object shapes. */
export * from './generated.js';
export * from './object.js';
