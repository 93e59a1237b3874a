#!/usr/bin/env bash
# Runs tests/e2e against a real Kubernetes cluster made with kind (needs Docker,
# kind, kubectl and helm on PATH). Used by `make e2e-kind`; it cannot run where
# there is no Docker.
#
#   1. create a kind cluster (reused if it exists; KEEP_CLUSTER=1 keeps it after);
#   2. build the operator image, the runner base image and a samples job image
#      (the runner plus craft_jobs/samples/jobs.py), and load them into kind;
#   3. start a throwaway PostgreSQL in the cluster;
#   4. install the chart with the samples image as the default job image;
#   5. run tests/e2e/test_cluster_*.py with KUBECONFIG pointing at the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${KIND_CLUSTER:-craft-jobs-e2e}"
NAMESPACE="${CRAFT_JOBS_E2E_NAMESPACE:-craft-jobs-e2e}"
TAG="e2e-$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
OPERATOR_IMAGE="craft-jobs:${TAG}"
RUNNER_IMAGE="craft-jobs-runner:${TAG}"
SAMPLES_IMAGE="craft-jobs-samples:${TAG}"
KUBECONFIG_FILE="$(mktemp -t craft-jobs-kind.XXXXXX)"
PYTHON="${PYTHON:-.venv/bin/python}"

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "e2e-kind: $tool is required" >&2; exit 2; }
done

cleanup() {
  if [[ "${KEEP_CLUSTER:-0}" != "1" ]]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
  rm -f "$KUBECONFIG_FILE"
}
trap cleanup EXIT

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --wait 120s
fi
kind get kubeconfig --name "$CLUSTER" > "$KUBECONFIG_FILE"
export KUBECONFIG="$KUBECONFIG_FILE"

echo "== building images"
docker build -f operator/Dockerfile -t "$OPERATOR_IMAGE" .
docker build -t "$RUNNER_IMAGE" job-runner-image
# The sample job classes, in an image built FROM the runner, as users build theirs.
SAMPLES_CONTEXT="$(mktemp -d)"
cp operator/src/craft_jobs/samples/jobs.py "$SAMPLES_CONTEXT/craft_samples.py"
cat > "$SAMPLES_CONTEXT/Dockerfile" <<DOCKERFILE
FROM ${RUNNER_IMAGE}
COPY --chown=10001:10001 craft_samples.py /app/craft_samples.py
ENV CRAFT_JOB_MODULES=craft_samples
DOCKERFILE
docker build -t "$SAMPLES_IMAGE" "$SAMPLES_CONTEXT"
rm -rf "$SAMPLES_CONTEXT"
for image in "$OPERATOR_IMAGE" "$RUNNER_IMAGE" "$SAMPLES_IMAGE"; do
  kind load docker-image --name "$CLUSTER" "$image"
done

echo "== PostgreSQL (throwaway, in the cluster)"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NAMESPACE" apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: postgres}
spec:
  selector: {matchLabels: {app: postgres}}
  template:
    metadata: {labels: {app: postgres}}
    spec:
      containers:
        - name: postgres
          image: postgres:16-alpine
          env:
            - {name: POSTGRES_PASSWORD, value: e2e}
            - {name: POSTGRES_DB, value: craft_jobs}
          ports: [{containerPort: 5432}]
          readinessProbe: {exec: {command: [pg_isready, -U, postgres]}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: postgres}
spec:
  selector: {app: postgres}
  ports: [{port: 5432}]
YAML
kubectl -n "$NAMESPACE" rollout status deployment/postgres --timeout=180s

echo "== installing the chart"
helm upgrade --install craft-jobs charts/craft-jobs --namespace "$NAMESPACE" --wait --timeout 5m \
  --set image.repository="${OPERATOR_IMAGE%%:*}" --set image.tag="$TAG" --set image.pullPolicy=Never \
  --set database.connectionString="postgresql://postgres:e2e@postgres.${NAMESPACE}.svc:5432/craft_jobs" \
  --set jobs.defaultImage="$SAMPLES_IMAGE" \
  --set-json 'operator.extraEnv=[{"name":"CRAFT_JOBS_JOB_MODULES","value":"craft_jobs.samples.jobs"},{"name":"CRAFT_JOBS_IMAGE_PULL_POLICY","value":"Never"}]'

echo "== running tests/e2e against kind"
CRAFT_JOBS_E2E_NAMESPACE="$NAMESPACE" CRAFT_JOBS_E2E_IMAGE="$SAMPLES_IMAGE" \
  "$PYTHON" -m pytest -q -p no:cacheprovider tests/e2e/test_cluster_*.py "$@"
