// The seeded random source lives in @mkube/component-base (one mulberry32 for
// the Raft core, simulations and @mkube/testing); re-exported here for the store's importers.
export { seededRandom } from '@mkube/component-base';
