# Three targets. "wheel": builds the distribution (make dist, in a container). "airflow": the image
# every Airflow service of docker-compose.yaml runs, the official Airflow image of the locked
# version plus the project's locked packages and the wheel, the one DAG file and the registry: no
# simulator, no development tooling. "simulator": the provider simulators, for demos (docker
# compose --profile demo).
# Keep the Airflow tag in step with apache-airflow in requirements.lock (a test checks).
FROM python:3.11-slim AS wheel

# The build backend is pinned in pyproject.toml; uv fetches it.
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml README.md CHANGELOG.md ./
COPY include/sql include/sql
COPY plugins/lms_connectors plugins/lms_connectors
RUN uv build --wheel -o /dist


FROM apache/airflow:3.3.2-python3.11 AS airflow

# The run-time lock (no simulator, embedded Postgres or test tooling: requirements-dev.lock has those)
# pins apache-airflow to the image's own version, so pip only adds what the project needs; every
# file is checked against its hash.
COPY --chown=airflow:0 requirements.lock /opt/airflow/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /opt/airflow/requirements.lock

# The connectors as any Airflow installs them: the wheel (its dependencies are the lock's), the one
# documented DAG file, and the registry beside the DAG folder.
COPY --from=wheel /dist /opt/airflow/dist
RUN pip install --no-cache-dir --no-deps /opt/airflow/dist/lms_connectors-*.whl
COPY --chown=airflow:0 dags/lms_connectors.py /opt/airflow/dags/lms_connectors.py
COPY --chown=airflow:0 include/connectors.yaml /opt/airflow/include/connectors.yaml


FROM python:3.11-slim AS simulator

# Only what the simulators import, at the versions of the development lock (its pins, without hashes:
# a constraints file takes none).
COPY requirements-dev.lock /tmp/requirements-dev.lock
RUN sed -E '/^ *--hash/d; s/ \\$//' /tmp/requirements-dev.lock > /tmp/constraints.txt \
    && pip install --no-cache-dir --constraint /tmp/constraints.txt starlette uvicorn numpy orjson pyyaml \
    && rm /tmp/requirements-dev.lock /tmp/constraints.txt
COPY simulator /opt/simulator/simulator
WORKDIR /opt/simulator
USER nobody
ENTRYPOINT ["python", "-m", "simulator"]
