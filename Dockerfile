# One image for both processes:
#   docker run IMAGE serve --host 0.0.0.0 --port 8000
#   docker run IMAGE worker
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap slirp4netns \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ISSUESMITH_WORK_DIR=/var/lib/issuesmith

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY jobs ./jobs
RUN pip install --no-cache-dir .

RUN useradd --system --create-home --uid 10001 issuesmith \
 && mkdir -p /var/lib/issuesmith && chown issuesmith /var/lib/issuesmith
USER issuesmith

EXPOSE 8000
ENTRYPOINT ["issuesmith"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
