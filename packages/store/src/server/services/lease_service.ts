// etcd Lease service: LeaseGrant, LeaseRevoke, LeaseKeepAlive (bidi),
// LeaseTimeToLive, LeaseLeases.

import type * as grpc from '@grpc/grpc-js';
import type { EtcdBackend } from '../backend.js';
import type { LeaseHandlers } from '../../gen/etcdserverpb/Lease.js';
import type { LeaseGrantRequest__Output } from '../../gen/etcdserverpb/LeaseGrantRequest.js';
import type { LeaseGrantResponse } from '../../gen/etcdserverpb/LeaseGrantResponse.js';
import type { LeaseRevokeRequest__Output } from '../../gen/etcdserverpb/LeaseRevokeRequest.js';
import type { LeaseRevokeResponse } from '../../gen/etcdserverpb/LeaseRevokeResponse.js';
import type { LeaseKeepAliveRequest__Output } from '../../gen/etcdserverpb/LeaseKeepAliveRequest.js';
import type { LeaseKeepAliveResponse } from '../../gen/etcdserverpb/LeaseKeepAliveResponse.js';
import type { LeaseTimeToLiveRequest__Output } from '../../gen/etcdserverpb/LeaseTimeToLiveRequest.js';
import type { LeaseTimeToLiveResponse } from '../../gen/etcdserverpb/LeaseTimeToLiveResponse.js';
import type { LeaseLeasesRequest__Output } from '../../gen/etcdserverpb/LeaseLeasesRequest.js';
import type { LeaseLeasesResponse } from '../../gen/etcdserverpb/LeaseLeasesResponse.js';
import { header, unary } from './common.js';
import { isEtcdError, toGrpcError } from './errors.js';
import { checkLeaseTTL } from './validate.js';

export function leaseService(backend: EtcdBackend): LeaseHandlers {
  return {
    LeaseGrant: unary<LeaseGrantRequest__Output, LeaseGrantResponse>(async (req) => {
      checkLeaseTTL(req.TTL);
      const r = await backend.leaseGrant(req.TTL, req.ID);
      return { header: header(backend), ID: r.id, TTL: r.ttl, error: '' };
    }),
    LeaseRevoke: unary<LeaseRevokeRequest__Output, LeaseRevokeResponse>(async (req) => {
      await backend.leaseRevoke(req.ID);
      return { header: header(backend) };
    }),
    LeaseTimeToLive: unary<LeaseTimeToLiveRequest__Output, LeaseTimeToLiveResponse>(async (req) => {
      try {
        const r = await backend.leaseTimeToLive(req.ID, req.keys);
        return { header: header(backend), ID: r.id, TTL: r.ttl, grantedTTL: r.grantedTTL, keys: r.keys };
      } catch (err) {
        // Like etcd: an unknown (e.g. expired) lease is reported as TTL -1, not as an error.
        if (isEtcdError(err, 'LeaseNotFound')) return { header: header(backend), ID: req.ID, TTL: -1, grantedTTL: 0, keys: [] };
        throw err;
      }
    }),
    LeaseLeases: unary<LeaseLeasesRequest__Output, LeaseLeasesResponse>(async () => {
      const ids = await backend.leaseLeases();
      return { header: header(backend), leases: ids.map((ID) => ({ ID })) };
    }),
    LeaseKeepAlive: (call: grpc.ServerDuplexStream<LeaseKeepAliveRequest__Output, LeaseKeepAliveResponse>) => {
      // Requests are answered in order, one response each; TTL 0 when the lease does not exist.
      let chain = Promise.resolve();
      let done = false;
      const finish = (err?: grpc.ServiceError) => {
        if (done) return;
        done = true;
        if (err) call.destroy(err);
        else call.end();
      };
      call.on('data', (req: LeaseKeepAliveRequest__Output) => {
        chain = chain.then(async () => {
          if (done) return;
          try {
            const ttl = await backend.leaseKeepAlive(req.ID);
            if (!done) call.write({ header: header(backend), ID: req.ID, TTL: ttl });
          } catch (err) {
            if (isEtcdError(err, 'LeaseNotFound')) {
              if (!done) call.write({ header: header(backend), ID: req.ID, TTL: 0 });
            } else {
              finish(toGrpcError(err));
            }
          }
        });
      });
      call.on('end', () => {
        void chain.then(() => finish());
      });
      call.on('error', () => {
        done = true;
      });
      call.on('cancelled', () => {
        done = true;
      });
    },
  };
}
