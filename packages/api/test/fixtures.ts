/** Kubernetes JSON objects, shaped as kubectl sends and receives them. */
import type { JsonObject } from '../src/index.js';

export const pod: JsonObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-0',
    namespace: 'default',
    uid: '5c7f6a1e-8a43-4f1c-9a47-3d1f0e2b9c11',
    resourceVersion: '42',
    generation: 1,
    creationTimestamp: '2024-01-02T03:04:05Z',
    labels: { app: 'web', tier: 'frontend' },
    annotations: { 'example.com/note': 'hello' },
    ownerReferences: [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: 'aa-bb', controller: true, blockOwnerDeletion: true },
    ],
    finalizers: ['example.com/cleanup'],
    managedFields: [
      {
        manager: 'kubectl-client-side-apply',
        operation: 'Update',
        apiVersion: 'v1',
        time: '2024-01-02T03:04:05Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } },
      },
    ],
  },
  spec: {
    volumes: [
      { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
      { name: 'config', configMap: { name: 'web-config', items: [{ key: 'a', path: 'a.conf', mode: 420 }], defaultMode: 420, optional: true } },
      { name: 'certs', secret: { secretName: 'web-tls', defaultMode: 256 } },
      { name: 'host', hostPath: { path: '/var/log', type: 'Directory' } },
    ],
    initContainers: [
      {
        name: 'init',
        image: 'busybox:1.36',
        command: ['sh', '-c'],
        args: ['echo init'],
        // resources is a non-pointer struct: upstream writes it even when empty
        resources: {},
        imagePullPolicy: 'IfNotPresent',
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
      },
    ],
    containers: [
      {
        name: 'web',
        image: 'nginx:1.25',
        command: ['nginx'],
        args: ['-g', 'daemon off;'],
        workingDir: '/srv',
        ports: [
          { name: 'http', containerPort: 80, protocol: 'TCP' },
          { name: 'metrics', containerPort: 9090, hostPort: 19090, hostIP: '0.0.0.0', protocol: 'UDP' },
        ],
        envFrom: [
          { prefix: 'CM_', configMapRef: { name: 'web-config', optional: false } },
          { secretRef: { name: 'web-secret' } },
        ],
        env: [
          { name: 'PLAIN', value: 'x' },
          { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
          { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { containerName: 'web', resource: 'limits.cpu', divisor: '1m' } } },
          { name: 'FROM_CM', valueFrom: { configMapKeyRef: { name: 'web-config', key: 'mode', optional: true } } },
          { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'web-secret', key: 'token' } } },
        ],
        resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '250m', memory: '128Mi', 'ephemeral-storage': '1Gi' } },
        volumeMounts: [
          { name: 'config', mountPath: '/etc/web', readOnly: true },
          { name: 'scratch', mountPath: '/tmp/x', subPath: 'x' },
        ],
        livenessProbe: { httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, initialDelaySeconds: 3, periodSeconds: 10, failureThreshold: 3 },
        readinessProbe: { tcpSocket: { port: 80 }, timeoutSeconds: 1, successThreshold: 1 },
        startupProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 30 },
        lifecycle: {
          postStart: { exec: { command: ['sh', '-c', 'echo started'] } },
          preStop: { httpGet: { path: '/stop', port: 8080 } },
        },
        securityContext: {
          capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
          privileged: false,
          runAsUser: 1000,
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
        },
        imagePullPolicy: 'Always',
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'FallbackToLogsOnError',
        stdin: true,
        tty: true,
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    serviceAccountName: 'web',
    nodeName: 'node-1',
    schedulerName: 'default-scheduler',
    priorityClassName: 'high',
    priority: 1000,
    preemptionPolicy: 'PreemptLowerPriority',
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }],
        },
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 10, preference: { matchExpressions: [{ key: 'disk', operator: 'Exists' }] } },
        ],
      },
      podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'kubernetes.io/hostname' }],
      },
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] },
              topologyKey: 'kubernetes.io/hostname',
              namespaces: ['default'],
            },
          },
        ],
      },
    },
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' },
    ],
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'web' } } },
    ],
    enableServiceLinks: true,
  },
  status: {
    phase: 'Running',
    conditions: [
      { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2024-01-02T03:05:00Z' },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: '2024-01-02T03:04:06Z' },
    ],
    message: 'all good',
    reason: 'Started',
    hostIP: '10.0.0.5',
    podIP: '10.244.1.7',
    podIPs: [{ ip: '10.244.1.7' }, { ip: 'fd00::7' }],
    startTime: '2024-01-02T03:04:06Z',
    initContainerStatuses: [
      {
        name: 'init',
        state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: '2024-01-02T03:04:07Z', finishedAt: '2024-01-02T03:04:08Z', containerID: 'containerd://1' } },
        lastState: {},
        ready: true,
        restartCount: 0,
        image: 'busybox:1.36',
        imageID: 'docker.io/library/busybox@sha256:aa',
        containerID: 'containerd://1',
      },
    ],
    containerStatuses: [
      {
        name: 'web',
        state: { running: { startedAt: '2024-01-02T03:04:09Z' } },
        lastState: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s' } },
        ready: true,
        restartCount: 2,
        image: 'nginx:1.25',
        imageID: 'docker.io/library/nginx@sha256:bb',
        containerID: 'containerd://2',
        started: true,
      },
    ],
    qosClass: 'Burstable',
  },
};

export const deployment: JsonObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', generation: 3, labels: { app: 'web' } },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }], resources: {} }] },
    },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: 1 } },
    minReadySeconds: 5,
    revisionHistoryLimit: 10,
    paused: true,
    progressDeadlineSeconds: 600,
  },
  status: {
    observedGeneration: 3,
    replicas: 3,
    updatedReplicas: 3,
    readyReplicas: 2,
    availableReplicas: 2,
    unavailableReplicas: 1,
    conditions: [
      { type: 'Available', status: 'False', lastUpdateTime: '2024-01-02T03:04:05Z', lastTransitionTime: '2024-01-02T03:04:05Z', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' },
    ],
    collisionCount: 1,
  },
};

export const service: JsonObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30080, appProtocol: 'http' },
      { name: 'metrics', protocol: 'TCP', port: 9090, targetPort: 9090 },
    ],
    selector: { app: 'web' },
    clusterIP: '10.96.0.10',
    clusterIPs: ['10.96.0.10', 'fd00:10::a'],
    type: 'LoadBalancer',
    externalIPs: ['192.0.2.10'],
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
    loadBalancerIP: '192.0.2.20',
    loadBalancerSourceRanges: ['0.0.0.0/0'],
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: 31000,
    publishNotReadyAddresses: true,
    ipFamilies: ['IPv4', 'IPv6'],
    ipFamilyPolicy: 'PreferDualStack',
    allocateLoadBalancerNodePorts: true,
    internalTrafficPolicy: 'Cluster',
  },
  status: {
    loadBalancer: { ingress: [{ ip: '192.0.2.20', ports: [{ port: 80, protocol: 'TCP' }] }] },
    conditions: [{ type: 'LoadBalancerReady', status: 'True', observedGeneration: 1, lastTransitionTime: '2024-01-02T03:04:05Z', reason: 'Ready', message: 'ok' }],
  },
};

export const node: JsonObject = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } },
  spec: {
    podCIDR: '10.244.1.0/24',
    podCIDRs: ['10.244.1.0/24', 'fd00:244:1::/64'],
    taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }, { key: 'gone', value: 'yes', effect: 'NoExecute', timeAdded: '2024-01-02T03:04:05Z' }],
    unschedulable: true,
  },
  status: {
    capacity: { cpu: '4', memory: '16314644Ki', pods: '110', 'ephemeral-storage': '100Gi' },
    allocatable: { cpu: '3800m', memory: '15Gi', pods: '110' },
    conditions: [
      { type: 'Ready', status: 'True', lastHeartbeatTime: '2024-01-02T03:04:05Z', lastTransitionTime: '2024-01-02T03:00:00Z', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
    ],
    addresses: [{ type: 'InternalIP', address: '10.0.0.5' }, { type: 'Hostname', address: 'node-1' }],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: 'm', systemUUID: 's', bootID: 'b', kernelVersion: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)',
      containerRuntimeVersion: 'mkube://0.1.0', kubeletVersion: 'v1.32.0', kubeProxyVersion: 'v1.32.0', operatingSystem: 'linux', architecture: 'amd64',
    },
    images: [{ names: ['docker.io/library/nginx:1.25'], sizeBytes: 67108864 }],
  },
};

export const secret: JsonObject = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'web-secret', namespace: 'default' },
  type: 'Opaque',
  immutable: true,
  data: { token: Buffer.from('s3cr3t').toString('base64'), binary: Buffer.from([0, 255, 128, 7]).toString('base64') },
};

export const configMap: JsonObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'web-config', namespace: 'default' },
  data: { mode: 'fast', 'a.conf': 'listen 80;\n' },
  binaryData: { blob: Buffer.from([1, 2, 3]).toString('base64') },
};

export const lease: JsonObject = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: 'node-1', namespace: 'kube-node-lease' },
  spec: {
    holderIdentity: 'node-1',
    leaseDurationSeconds: 40,
    acquireTime: '2024-01-02T03:04:05.123456Z',
    renewTime: '2024-01-02T03:04:45.000001Z',
    leaseTransitions: 3,
  },
};

export const roleBinding: JsonObject = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name: 'read-pods', namespace: 'default' },
  subjects: [
    { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'jane' },
    { kind: 'ServiceAccount', name: 'web', namespace: 'default' },
  ],
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
};

export const statefulSet: JsonObject = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'db', namespace: 'default' },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'db' } },
    serviceName: 'db',
    podManagementPolicy: 'Parallel',
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1, maxUnavailable: 1 } },
    template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'postgres', resources: {} }] } },
    volumeClaimTemplates: [
      { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } }, status: {} },
    ],
  },
  status: { replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, currentRevision: 'db-1', updateRevision: 'db-1', availableReplicas: 3 },
};

export const cronJob: JsonObject = {
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'report', namespace: 'default' },
  spec: {
    schedule: '*/5 * * * *',
    concurrencyPolicy: 'Forbid',
    jobTemplate: {
      // JobTemplateSpec embeds ObjectMeta (not a pointer): upstream writes it even when empty
      metadata: {},
      spec: {
        backoffLimit: 2,
        completions: 1,
        template: { metadata: {}, spec: { restartPolicy: 'OnFailure', containers: [{ name: 'r', image: 'busybox', resources: {} }] } },
      },
    },
  },
  status: { active: [{ kind: 'Job', name: 'report-1', namespace: 'default' }], lastScheduleTime: '2024-01-02T03:00:00Z' },
};

export const ingress: JsonObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    ingressClassName: 'nginx',
    tls: [{ hosts: ['example.com'], secretName: 'web-tls' }],
    rules: [
      { host: 'example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } },
    ],
  },
  // IngressStatus.loadBalancer is a non-pointer struct: upstream writes it even when empty
  status: { loadBalancer: {} },
};

export const ingressClass: JsonObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'IngressClass',
  metadata: { name: 'nginx' },
  spec: { controller: 'k8s.io/ingress-nginx', parameters: { apiGroup: 'k8s.example.com', kind: 'Params', name: 'p', scope: 'Cluster' } },
};

export const event: JsonObject = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'web-0.17a', namespace: 'default' },
  involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-0', uid: 'u', apiVersion: 'v1', fieldPath: 'spec.containers{web}' },
  reason: 'Pulled',
  message: 'Container image pulled',
  source: { component: 'kubelet', host: 'node-1' },
  firstTimestamp: '2024-01-02T03:04:05Z',
  lastTimestamp: '2024-01-02T03:04:06Z',
  count: 2,
  type: 'Normal',
  eventTime: '2024-01-02T03:04:05.000100Z',
  reportingComponent: 'kubelet',
  reportingInstance: 'node-1',
};

export const fixtures: Record<string, JsonObject> = {
  Pod: pod,
  Deployment: deployment,
  Service: service,
  Node: node,
  Secret: secret,
  ConfigMap: configMap,
  Lease: lease,
  RoleBinding: roleBinding,
  StatefulSet: statefulSet,
  CronJob: cronJob,
  Ingress: ingress,
  IngressClass: ingressClass,
  Event: event,
};
