// Original file: ../../proto/etcd/etcdserverpb/rpc.proto

import type { Long } from '@grpc/proto-loader';

export interface WatchCancelRequest {
  'watchId'?: (number | string | Long);
}

export interface WatchCancelRequest__Output {
  'watchId': (number);
}
