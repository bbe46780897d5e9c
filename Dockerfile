# One image for the API and the workers; docker-compose.yml starts it with different commands.
FROM python:3.11-slim
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
EXPOSE 8000
CMD ["python", "server.py"]
