// @mkube/testing: every package's test fixtures, once. See README.md.
export { REPO_ROOT } from './repo_root.js';
export { freePort, seededRandom } from '@mkube/component-base';
export { eventually, sleep, waitFor, type PollOptions } from './wait.js';
export { compactEtcd, ETCD_BIN, memberLeader, startEtcdCluster, type EtcdCluster, type EtcdMemberProcess, type StartEtcdOptions } from './etcd.js';
export { STORE_BIN, StoreCluster, type StoreClusterOptions, type StoreMemberProcess } from './store_cluster.js';
export { PeerProxy, type ProxyMode } from './peer_proxy.js';
export { api, startApiFixture, TOKENS, watchEvents, type ApiFixture, type ApiFixtureOptions, type ApiServerLike, type FixtureApiServerOptions, type Reply, type RequestOptions } from './api_server.js';
export { startControlPlane, type ControlPlane, type ControlPlaneDeps, type ControlPlaneOptions } from './control_plane.js';
export { cgroupDirs, LAB_ROOT, LAB_SCRIPT, labDown, labUp, pidsMentioning, readIfExists, removeCgroup, removeTree, run, type LabNode, type LabSummary, type RunResult } from './lab.js';
export { kubectl, startAgent, tmpRoot, type AgentControlPlane, type AgentProcess, type Kubectl } from './agent.js';
export { killChild, KUBECTL, kubectlBin, kubectlFor, startLabAgents, startScheduler, waitNodesReady, type KubectlRunner, type KubectlTarget, type LabAgents } from './e2e.js';
export * from './check/index.js';
