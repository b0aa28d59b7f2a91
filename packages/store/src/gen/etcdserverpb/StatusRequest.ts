// Original file: ../../proto/etcd/etcdserverpb/rpc.proto


export interface StatusRequest {
}

export interface StatusRequest__Output {
}
