// The gRPC API tests again, on the API server's embedded mkube-store member instead of etcd 3.4.
process.env.MKUBE_TEST_STORE = 'mkube';
await import('./grpc.test.js');
