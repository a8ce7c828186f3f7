# Two targets. "airflow": the image every Airflow service of docker-compose.yaml
# runs, the official Airflow image of the locked version plus the project's
# locked packages and its production code (dags, plugins, include) only: no
# simulator, no development tooling. "simulator": the provider simulators,
# for demos (docker compose --profile demo).
# Keep the Airflow tag in step with apache-airflow in requirements.lock (a test checks).
FROM apache/airflow:3.3.2-python3.11 AS airflow

# The lock pins apache-airflow to the image's own version, so pip only adds
# what the project needs; installing from the lock keeps builds reproducible.
COPY --chown=airflow:0 requirements.lock /opt/airflow/requirements.lock
RUN pip install --no-cache-dir -r /opt/airflow/requirements.lock

# The code is mounted by docker-compose.yaml during development; a deployment
# image bakes it in (docker build --target airflow . then push).
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 include /opt/airflow/include
ENV PYTHONPATH=/opt/airflow/plugins \
    LMS_CONNECTORS_INCLUDE=/opt/airflow/include


FROM python:3.11-slim AS simulator

# Only what the simulators import, at the versions of the lock.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --constraint /tmp/requirements.lock starlette uvicorn numpy orjson pyyaml \
    && rm /tmp/requirements.lock
COPY simulator /opt/simulator/simulator
WORKDIR /opt/simulator
USER nobody
ENTRYPOINT ["python", "-m", "simulator"]
