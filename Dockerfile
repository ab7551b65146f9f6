# syntax=docker/dockerfile:1
# pss-harness as an image for CI jobs and the in-cluster CronJob (deploy/): the harness, its corpus
# and a Python runtime. No shell at run time (distroless), a numeric non-root user, and not the
# embedded control plane: give it a cluster (in a pod: its ServiceAccount; elsewhere: --kubeconfig).
#
#   docker build -t REGISTRY/pss-harness:0.1.0 .
#   docker run --rm -v "$PWD/reports:/var/lib/pss-harness/reports" -v "$HOME/.kube:/kube:ro" \
#       REGISTRY/pss-harness:0.1.0 run -n 2 --dist loadfile --kubeconfig /kube/config
#
# Both stages are Debian 12, so the virtual environment built in the first one finds the same
# Python 3.11 in the second.

FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN python3 -m venv /opt/pss-harness \
 && /opt/pss-harness/bin/pip install --no-cache-dir . \
 && /opt/pss-harness/bin/pss-harness --version \
 && mkdir -p /var/lib/pss-harness

FROM gcr.io/distroless/python3-debian12:nonroot
COPY --from=build /opt/pss-harness /opt/pss-harness
COPY --from=build --chown=65532:65532 /var/lib/pss-harness /var/lib/pss-harness
ENV PATH=/opt/pss-harness/bin:/usr/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /var/lib/pss-harness
USER 65532:65532
ENTRYPOINT ["/opt/pss-harness/bin/pss-harness"]
CMD ["--help"]
