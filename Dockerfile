# One image for both processes:
#   docker run IMAGE serve --host 0.0.0.0 --port 8000
#   docker run IMAGE worker
FROM python:3.11-slim

# bubblewrap runs the repository's commands; slirp4netns gives a setup phase its network and
# nftables keeps that network off private, link-local and the host's own addresses.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap slirp4netns nftables \
 && rm -rf /var/lib/apt/lists/*

# issuesmith lives in a virtualenv of its own: a setup phase sees the base interpreter only,
# without the worker's code or its Redis and queue clients.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ISSUESMITH_WORK_DIR=/var/lib/issuesmith \
    PATH=/opt/issuesmith/bin:$PATH

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY jobs ./jobs
COPY standins ./standins
RUN python -m venv /opt/issuesmith && /opt/issuesmith/bin/pip install --no-cache-dir .

RUN useradd --system --create-home --uid 10001 issuesmith \
 && mkdir -p /var/lib/issuesmith && chown issuesmith /var/lib/issuesmith
USER issuesmith

EXPOSE 8000
ENTRYPOINT ["issuesmith"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
