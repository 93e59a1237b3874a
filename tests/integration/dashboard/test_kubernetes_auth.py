"""`kubernetes` auth against a small real HTTP server that answers TokenReview and SubjectAccessReview.

The server plays the API server's part: it knows two tokens and an RBAC table
of (user, namespace, verb) and records every review it was asked, so the
tests see exactly which questions the dashboard puts to Kubernetes.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import kubernetes
import pytest

from craft_jobs.dashboard.app import create_app
from craft_jobs.dashboard.auth import KubernetesAuth, Role
from craft_jobs.dashboard.settings import DashboardSettings
from craft_jobs.store.stats import StatsStore
from craft_jobs.store.store import JobStore
from tests.integration.dashboard.factory import enqueue

USERS = {"dev-token": ("dev", ["devs"]), "reader-token": ("reader", ["readers"])}
RBAC = {("dev", "acme", "update"), ("dev", "acme", "list"), ("reader", "acme", "list"), ("reader", "globex", "list"),
        ("reader", "", "list")}


class FakeApiServer(BaseHTTPRequestHandler):
    reviews: list[dict] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeApiServer.reviews.append({"path": self.path, **body.get("spec", {})})
        spec = body["spec"]
        if self.path == "/apis/authentication.k8s.io/v1/tokenreviews":
            user = USERS.get(spec["token"])
            status = {"authenticated": False} if user is None else {
                "authenticated": True, "user": {"username": user[0], "groups": user[1], "uid": f"uid-{user[0]}"}}
            kind, version = "TokenReview", "authentication.k8s.io/v1"
        elif self.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews":
            attrs = spec["resourceAttributes"]
            assert attrs["group"] == "jobs.craft.dev" and attrs["resource"] == "backgroundjobs"
            allowed = (spec["user"], attrs.get("namespace", ""), attrs["verb"]) in RBAC
            status = {"allowed": allowed}
            kind, version = "SubjectAccessReview", "authorization.k8s.io/v1"
        else:
            self.send_response(404)
            self.end_headers()
            return
        payload = json.dumps({"kind": kind, "apiVersion": version, "spec": spec, "status": status}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def api_server():
    FakeApiServer.reviews = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApiServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def client_factory(url: str):
    def build():
        configuration = kubernetes.client.Configuration()
        configuration.host = url
        return kubernetes.client.ApiClient(configuration)
    return build


async def test_token_review_then_access_reviews_give_the_role(api_server):
    auth = KubernetesAuth(client_factory(api_server), namespace="", cache_seconds=60)
    assert await auth.authenticate("nobody-token") is None
    reader = await auth.authenticate("reader-token")
    assert reader.name == "reader" and reader.role is Role.VIEWER and reader.tenants is None
    sar = [r for r in FakeApiServer.reviews if r["path"].endswith("subjectaccessreviews")]
    assert {r["resourceAttributes"]["verb"] for r in sar} == {"update", "list"}
    assert sar[0]["user"] == "reader" and sar[0]["groups"] == ["readers"] and sar[0]["uid"] == "uid-reader"
    asked = len(FakeApiServer.reviews)
    assert (await auth.authenticate("reader-token")).role is Role.VIEWER
    assert len(FakeApiServer.reviews) == asked, "a second request within the cache time asks nothing"
    assert await auth.authenticate("dev-token") is None, "dev has no cluster-wide access"


async def test_each_tenant_is_a_namespace(api_server):
    async def tenants():
        return ["acme", "globex", "initech"]

    auth = KubernetesAuth(client_factory(api_server), tenants=tenants)
    dev = await auth.authenticate("dev-token")
    assert dev.tenants == {"acme": Role.OPERATOR} and dev.role is Role.OPERATOR
    reader = await auth.authenticate("reader-token")
    assert reader.tenants == {"acme": Role.VIEWER, "globex": Role.VIEWER}


async def test_the_dashboard_in_kubernetes_mode_scopes_pages_and_api(api_server, store, tenant_options):
    acme = await enqueue(store, tenant_id="acme")
    globex = await enqueue(store, tenant_id="globex")
    options = tenant_options
    job_store = JobStore(store.connector, options, store.clock)
    stats = StatsStore(store.connector, options, store.clock)
    auth = KubernetesAuth(client_factory(api_server), tenants=stats.tenants)
    app = create_app(options, store=job_store, auth=auth, settings=DashboardSettings(auth_mode="kubernetes"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        dev = {"Authorization": "Bearer dev-token"}
        assert [j["id"] for j in (await http.get("/api/jobs", headers=dev)).json()["items"]] == [acme]
        assert (await http.get(f"/api/jobs/{globex}", headers=dev)).status_code == 404
        assert (await http.post(f"/api/jobs/{acme}/requeue", headers=dev)).status_code == 200
        reader = {"Authorization": "Bearer reader-token"}
        assert {j["id"] for j in (await http.get("/api/jobs", headers=reader)).json()["items"]} == {acme, globex}
        assert (await http.post(f"/api/jobs/{acme}/requeue", headers=reader)).status_code == 403
        refused = await http.get("/api/jobs", headers={"Authorization": "Bearer stolen"})
        assert refused.status_code == 401 and "backgroundjobs" in refused.json()["error"]["message"]
