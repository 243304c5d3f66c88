/** Bumped when the stream format changes; public/pushframe.js carries the same number (a test keeps them in step). */
export const PROTOCOL_VERSION = 1;
