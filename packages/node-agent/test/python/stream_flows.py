# The official Python client's (Debian's python3-kubernetes) streaming flows against a real API
# server and node agent: exec through kubernetes.stream (preloaded output of stdout and stderr, an
# interactive session with write_stdin/read_stdout and the exit code from the error channel) and
# kubernetes.stream.portforward (an HTTP GET through the forwarded socket, a port nothing listens
# on). Prints one JSON document of what it saw; python_stream.test.ts asserts it.
# Usage: stream_flows.py KUBECONFIG NAMESPACE SHELL_POD WEB_POD
import json
import sys
import time
import traceback

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward, stream

kubeconfig, ns, box, web = sys.argv[1:5]
config.load_kube_config(config_file=kubeconfig)
core = client.CoreV1Api()
out = {}
DEADLINE = 20  # seconds any one wait may take


def step(name):
    def wrap(fn):
        started = time.monotonic()
        try:
            out[name] = fn()
        except ApiException as e:
            out[name] = {"error": "ApiException", "status": e.status, "reason": e.reason, "body": e.body}
        except Exception as e:  # noqa: BLE001 - every failure is reported to the test
            out[name] = {"error": type(e).__name__, "message": str(e), "trace": traceback.format_exc()}
        if isinstance(out[name], dict):
            out[name]["seconds"] = round(time.monotonic() - started, 3)
        return fn
    return wrap


@step("execPreloaded")
def _():
    text = stream(core.connect_get_namespaced_pod_exec, box, ns,
                  command=["sh", "-c", "echo hi; echo err >&2"],
                  stderr=True, stdin=False, stdout=True, tty=False)
    return {"output": text}


@step("execStdoutOnly")
def _():
    text = stream(core.connect_get_namespaced_pod_exec, box, ns,
                  command=["sh", "-c", "echo out; echo err >&2"],
                  stderr=False, stdin=False, stdout=True, tty=False)
    return {"output": text}


@step("execInteractive")
def _():
    resp = stream(core.connect_get_namespaced_pod_exec, box, ns, command=["sh"],
                  stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
    seen = {"stdout": "", "stderr": ""}

    def read_until(needle, channel):
        end = time.monotonic() + DEADLINE
        while needle not in seen[channel] and resp.is_open() and time.monotonic() < end:
            resp.update(timeout=1)
            if resp.peek_stdout():
                seen["stdout"] += resp.read_stdout()
            if resp.peek_stderr():
                seen["stderr"] += resp.read_stderr()
        return needle in seen[channel]

    resp.write_stdin("echo first\n")
    first = read_until("first\n", "stdout")
    resp.write_stdin(b"echo second; echo oops >&2\n")
    second = read_until("second\n", "stdout") and read_until("oops\n", "stderr")
    resp.write_stdin("exit 3\n")
    end = time.monotonic() + DEADLINE
    while resp.is_open() and time.monotonic() < end:
        resp.update(timeout=1)
    closed = not resp.is_open()
    code = resp.returncode if closed else None
    resp.close()
    return {"first": first, "second": second, "stdout": seen["stdout"], "stderr": seen["stderr"],
            "closed": closed, "returncode": code}


@step("execExitZero")
def _():
    resp = stream(core.connect_get_namespaced_pod_exec, box, ns, command=["true"],
                  stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=DEADLINE)
    return {"closed": not resp.is_open(), "returncode": resp.returncode if not resp.is_open() else None}


def http_get(sock, path):
    sock.settimeout(DEADLINE)
    sock.sendall(("GET %s HTTP/1.0\r\nHost: web\r\n\r\n" % path).encode())
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace")


@step("portforward")
def _():
    pf = portforward(core.connect_get_namespaced_pod_portforward, web, ns, ports="80")
    page = http_get(pf.socket(80), "/")
    error = pf.error(80)
    pf.close()
    return {"status": page.split("\r\n", 1)[0], "welcome": "Welcome to nginx!" in page, "portError": error}


@step("portforwardTwoPorts")
def _():
    # one forward, two ports: 80 answers, 81 has nothing listening and reports on its error channel
    pf = portforward(core.connect_get_namespaced_pod_portforward, web, ns, ports="80,81")
    page = http_get(pf.socket(80), "/missing")
    try:
        refused = http_get(pf.socket(81), "/")
    except OSError as e:
        refused = "OSError: %s" % e
    end = time.monotonic() + DEADLINE
    while pf.error(81) is None and time.monotonic() < end:
        time.sleep(0.05)
    errors = {"80": pf.error(80), "81": pf.error(81)}
    pf.close()
    return {"status80": page.split("\r\n", 1)[0], "answer81": refused, "errors": errors}


print(json.dumps(out))
