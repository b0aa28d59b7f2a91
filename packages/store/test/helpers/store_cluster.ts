// The mkube-store launcher lives in @mkube/testing; this re-export keeps the
// store's older imports working (new tests import '@mkube/testing').
export { freePort, STORE_BIN, StoreCluster, type StoreClusterOptions, type StoreMemberProcess } from '@mkube/testing';
