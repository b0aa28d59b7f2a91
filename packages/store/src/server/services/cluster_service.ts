// etcd Cluster service: MemberAdd, MemberRemove, MemberUpdate, MemberList, MemberPromote.

import type { EtcdBackend, MemberInfo } from '../backend.js';
import type { ClusterHandlers } from '../../gen/etcdserverpb/Cluster.js';
import type { Member } from '../../gen/etcdserverpb/Member.js';
import type { MemberAddRequest__Output } from '../../gen/etcdserverpb/MemberAddRequest.js';
import type { MemberAddResponse } from '../../gen/etcdserverpb/MemberAddResponse.js';
import type { MemberRemoveRequest__Output } from '../../gen/etcdserverpb/MemberRemoveRequest.js';
import type { MemberRemoveResponse } from '../../gen/etcdserverpb/MemberRemoveResponse.js';
import type { MemberUpdateRequest__Output } from '../../gen/etcdserverpb/MemberUpdateRequest.js';
import type { MemberUpdateResponse } from '../../gen/etcdserverpb/MemberUpdateResponse.js';
import type { MemberListRequest__Output } from '../../gen/etcdserverpb/MemberListRequest.js';
import type { MemberListResponse } from '../../gen/etcdserverpb/MemberListResponse.js';
import type { MemberPromoteRequest__Output } from '../../gen/etcdserverpb/MemberPromoteRequest.js';
import type { MemberPromoteResponse } from '../../gen/etcdserverpb/MemberPromoteResponse.js';
import { header, unary } from './common.js';
import { checkPeerURLs } from './validate.js';

/** Request metadata of a MemberRemove that skips the quorum check (mkube's extension; etcdctl never sends it). */
export const FORCE_RECONFIG_METADATA = 'mkube-force-reconfig';

export function toWireMember(m: MemberInfo): Member {
  return { ID: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

export function clusterService(backend: EtcdBackend): ClusterHandlers {
  return {
    MemberAdd: unary<MemberAddRequest__Output, MemberAddResponse>(async (req) => {
      checkPeerURLs(req.peerURLs);
      const r = await backend.memberAdd(req.peerURLs, req.isLearner);
      return { header: header(backend), member: toWireMember(r.member), members: r.members.map(toWireMember) };
    }),
    MemberRemove: unary<MemberRemoveRequest__Output, MemberRemoveResponse>(async (req, call) => {
      // mkube's forced removal (`mkube leave --force`): metadata FORCE_RECONFIG_METADATA: true skips the quorum check.
      const members = await backend.memberRemove(req.ID, call?.metadata?.get(FORCE_RECONFIG_METADATA)[0] === 'true');
      return { header: header(backend), members: members.map(toWireMember) };
    }),
    MemberUpdate: unary<MemberUpdateRequest__Output, MemberUpdateResponse>(async (req) => {
      checkPeerURLs(req.peerURLs);
      const members = await backend.memberUpdate(req.ID, req.peerURLs);
      return { header: header(backend), members: members.map(toWireMember) };
    }),
    MemberList: unary<MemberListRequest__Output, MemberListResponse>(async () => {
      // etcd 3.4's MemberList has no linearizable flag (3.5 added it): serve the member's view.
      const members = await backend.memberList(false);
      return { header: header(backend), members: members.map(toWireMember) };
    }),
    MemberPromote: unary<MemberPromoteRequest__Output, MemberPromoteResponse>(async (req) => {
      const members = await backend.memberPromote(req.ID);
      return { header: header(backend), members: members.map(toWireMember) };
    }),
  };
}
