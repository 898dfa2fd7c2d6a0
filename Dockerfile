# One image for the worker, the board, ingest and the simulator (docker-compose.yml picks the command).
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
ENV PAODAN_STACK_DIR=/data PAODAN_DATA_DIR=/data/worker
VOLUME /data
ENTRYPOINT ["paodan"]
