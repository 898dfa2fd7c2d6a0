# One image for the worker, the board, ingest and the simulator (docker-compose.yml picks the command).

# The lexicon matcher's native scanner (detectors/scanner), built as a wheel for Debian bookworm's Python 3.11.
FROM rust:1-slim-bookworm AS scanner
RUN apt-get update -q && apt-get install -y -q --no-install-recommends python3 python3-venv python3-dev \
    && python3 -m venv /build && /build/bin/pip install -q maturin==1.9.4
COPY detectors/scanner /src
RUN cd /src && /build/bin/maturin build --release --interpreter python3 --out /wheels

FROM python:3.11-slim-bookworm
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY --from=scanner /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
ENV PAODAN_STACK_DIR=/data PAODAN_DATA_DIR=/data/worker
VOLUME /data
ENTRYPOINT ["paodan"]
