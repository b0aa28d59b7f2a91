# The official Python client's (Debian's python3-kubernetes) basic flows against an API server:
# create/list/watch/patch/delete of pods, deployments, daemonsets, services, configmaps and
# replicationcontrollers, the scale subresource, and utils.create_from_yaml. Prints one JSON document
# of what it saw; python_client.test.ts asserts it. Usage: basic_flows.py KUBECONFIG NAMESPACE YAML
import json
import sys
import traceback

from kubernetes import client, config, utils, watch
from kubernetes.client.rest import ApiException

kubeconfig, ns, manifest = sys.argv[1], sys.argv[2], sys.argv[3]
config.load_kube_config(config_file=kubeconfig)
api = client.ApiClient()
core = client.CoreV1Api(api)
apps = client.AppsV1Api(api)
out = {}


def step(name):
    def wrap(fn):
        try:
            out[name] = fn()
        except ApiException as e:
            out[name] = {"error": "ApiException", "status": e.status, "body": e.body}
        except Exception as e:  # noqa: BLE001 - every failure is reported to the test
            out[name] = {"error": type(e).__name__, "message": str(e), "trace": traceback.format_exc()}
        return fn
    return wrap


def watch_names(list_fn, *args, want, **kwargs):
    """Events of a watch (watch=True on the wire) until `want` was seen or timeout_seconds ended it."""
    w = watch.Watch()
    seen = []
    for ev in w.stream(list_fn, *args, timeout_seconds=5, **kwargs):
        seen.append([ev["type"], ev["object"].metadata.name])
        if ev["object"].metadata.name == want:
            w.stop()
    return seen


def gone(read_fn, *args):
    try:
        read_fn(*args)
        return False
    except ApiException as e:
        return e.status == 404


pod_labels = {"app": "py"}
template = {
    "metadata": {"labels": pod_labels},
    "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]},
}


@step("namespace")
def _():
    return core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))).metadata.name


@step("pods")
def _():
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="py-pod", labels=pod_labels),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
    )
    created = core.create_namespaced_pod(ns, pod)
    listed = [p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="app=py").items]
    events = watch_names(core.list_namespaced_pod, ns, want="py-pod")
    patched = core.patch_namespaced_pod("py-pod", ns, {"metadata": {"labels": {"patched": "yes"}}})
    core.delete_namespaced_pod("py-pod", ns, grace_period_seconds=0)
    return {
        "created": created.metadata.name,
        "uid": bool(created.metadata.uid),
        "listed": listed,
        "watch": events,
        "patchedLabels": patched.metadata.labels,
        "gone": gone(core.read_namespaced_pod, "py-pod", ns),
    }


@step("deployments")
def _():
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "py-deploy"},
        "spec": {"replicas": 2, "selector": {"matchLabels": pod_labels}, "template": template},
    }
    created = apps.create_namespaced_deployment(ns, body)
    listed = [d.metadata.name for d in apps.list_namespaced_deployment(ns).items]
    events = watch_names(apps.list_namespaced_deployment, ns, want="py-deploy")
    patched = apps.patch_namespaced_deployment("py-deploy", ns, {"spec": {"replicas": 3}})
    scale = apps.patch_namespaced_deployment_scale("py-deploy", ns, {"spec": {"replicas": 4}})
    read = apps.read_namespaced_deployment("py-deploy", ns)
    apps.delete_namespaced_deployment("py-deploy", ns, propagation_policy="Background")
    return {
        "created": created.metadata.name,
        "strategy": created.spec.strategy.type,
        "listed": listed,
        "watch": events,
        "patchedReplicas": patched.spec.replicas,
        "scaleReplicas": scale.spec.replicas,
        "readReplicas": read.spec.replicas,
        "gone": gone(apps.read_namespaced_deployment, "py-deploy", ns),
    }


@step("daemonsets")
def _():
    body = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "py-ds"},
        "spec": {"selector": {"matchLabels": pod_labels}, "template": template},
    }
    created = apps.create_namespaced_daemon_set(ns, body)
    read = apps.read_namespaced_daemon_set("py-ds", ns)
    listed = [d.metadata.name for d in apps.list_namespaced_daemon_set(ns).items]
    events = watch_names(apps.list_namespaced_daemon_set, ns, want="py-ds")
    patched = apps.patch_namespaced_daemon_set("py-ds", ns, {"metadata": {"annotations": {"a": "b"}}})
    apps.delete_namespaced_daemon_set("py-ds", ns)
    return {
        "created": created.metadata.name,
        "currentNumberScheduled": read.status.current_number_scheduled,
        "numberReady": read.status.number_ready,
        "listed": listed,
        "watch": events,
        "patchedAnnotations": patched.metadata.annotations,
        "gone": gone(apps.read_namespaced_daemon_set, "py-ds", ns),
    }


@step("services")
def _():
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="py-svc"),
        spec=client.V1ServiceSpec(selector=pod_labels, ports=[client.V1ServicePort(port=80, target_port=8080)]),
    )
    created = core.create_namespaced_service(ns, svc)
    listed = [s.metadata.name for s in core.list_namespaced_service(ns).items]
    events = watch_names(core.list_namespaced_service, ns, want="py-svc")
    patched = core.patch_namespaced_service("py-svc", ns, {"metadata": {"labels": {"tier": "web"}}})
    core.delete_namespaced_service("py-svc", ns)
    return {
        "created": created.metadata.name,
        "clusterIP": bool(created.spec.cluster_ip),
        "port": created.spec.ports[0].port,
        "targetPort": created.spec.ports[0].target_port,
        "listed": listed,
        "watch": events,
        "patchedLabels": patched.metadata.labels,
        "gone": gone(core.read_namespaced_service, "py-svc", ns),
    }


@step("configmaps")
def _():
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm", labels={"k": "v"}), data={"a": "1"})
    created = core.create_namespaced_config_map(ns, cm)
    listed = [c.metadata.name for c in core.list_namespaced_config_map(ns, label_selector="k=v").items]
    events = watch_names(core.list_namespaced_config_map, ns, want="py-cm")
    patched = core.patch_namespaced_config_map("py-cm", ns, {"data": {"b": "2"}})
    core.delete_namespaced_config_map("py-cm", ns)
    return {
        "created": created.metadata.name,
        "listed": listed,
        "watch": events,
        "patchedData": patched.data,
        "gone": gone(core.read_namespaced_config_map, "py-cm", ns),
    }


@step("replicationcontrollers")
def _():
    body = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "py-rc"}, "spec": {"replicas": 1, "template": template}}
    created = core.create_namespaced_replication_controller(ns, body)
    listed = [r.metadata.name for r in core.list_namespaced_replication_controller(ns).items]
    events = watch_names(core.list_namespaced_replication_controller, ns, want="py-rc")
    patched = core.patch_namespaced_replication_controller("py-rc", ns, {"spec": {"replicas": 2}})
    scale = core.patch_namespaced_replication_controller_scale("py-rc", ns, {"spec": {"replicas": 3}})
    read_scale = core.read_namespaced_replication_controller_scale("py-rc", ns)
    core.delete_namespaced_replication_controller("py-rc", ns)
    return {
        "created": created.metadata.name,
        "selector": created.spec.selector,
        "labels": created.metadata.labels,
        "listed": listed,
        "watch": events,
        "patchedReplicas": patched.spec.replicas,
        "scaleReplicas": scale.spec.replicas,
        "scaleSelector": read_scale.status.selector,
        "gone": gone(core.read_namespaced_replication_controller, "py-rc", ns),
    }


@step("createFromYaml")
def _():
    created = utils.create_from_yaml(api, manifest, namespace=ns)
    names = [o.metadata.name for group in created for o in group]
    cm = core.read_namespaced_config_map("yaml-cm", ns)
    dep = apps.read_namespaced_deployment("yaml-deploy", ns)
    return {"names": names, "cmData": cm.data, "deployReplicas": dep.spec.replicas}


print(json.dumps(out))
