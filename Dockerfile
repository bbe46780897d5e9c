# One image for the API and the workers; docker-compose.yml starts it with different commands
# (`python server.py`, `python worker.py`) and gives each its own health check, so there is no
# HEALTHCHECK here. tests/test_deployment_config.py checks this file copies everything pyproject.toml
# installs: every package, every module, and the package data (db/migrations, the message catalogs,
# the policy, the pages' templates and static files).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml ./
COPY domain domain
COPY db db
COPY workflows workflows
COPY activities activities
COPY services services
COPY messages messages
COPY api api
COPY policies policies
COPY data/reference data/reference
COPY settings.py worker.py server.py cli.py ./
RUN pip install --no-cache-dir .
ENV NQ57_DATA_DIR=/var/lib/nq57 NQ57_HOST=0.0.0.0
# The API (NQ57_PORT) and a worker's Prometheus endpoint (NQ57_WORKER_METRICS_PORT).
EXPOSE 8000 9464
CMD ["python", "server.py"]
