// The etcd launcher lives in @mkube/testing; this re-export keeps the store's
// older imports working (new tests import '@mkube/testing').
export { ETCD_BIN, freePort, startEtcdCluster, type EtcdCluster, type EtcdMemberProcess, type StartEtcdOptions } from '@mkube/testing';
