// freePort lives in @mkube/component-base (one implementation for the
// components and @mkube/testing); re-exported here for the store's importers.
export { freePort } from '@mkube/component-base';
