# The rollout CLI as an image, for CI deploy steps (README "In CI"):
#   docker build -t rollout .
#   docker run --rm -v "$HOME/.kube/config:/kube/config:ro" -e KUBECONFIG=/kube/config \
#       rollout status link-manager -n link-manager
# Runs as an unprivileged user; kubeconfig (or the in-cluster ServiceAccount) and
# ROLLOUT_PROMETHEUS_URL come from outside.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rollout ./rollout
COPY strategies ./strategies
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /install /usr/local
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin rollout
USER 10001
WORKDIR /home/rollout
ENTRYPOINT ["rollout"]
CMD ["--help"]
