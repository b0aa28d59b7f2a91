// The API server's storage and REST tests again, on its embedded mkube-store member instead of etcd 3.4.
process.env.MKUBE_TEST_STORE = 'mkube';
await import('./api.test.js');
