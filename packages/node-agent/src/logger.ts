// The logging contract of the agent's classes: the subset of pino's Logger they call, so the
// logger @mkube/component-base's createLogger builds in the binary (and any pino logger in tests)
// is injected as is; errors are logged as `{ err }` so pino's serializer keeps their stacks.
// Classes built without a logger get silentLogger, which discards everything at no cost.

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: object): Logger;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
