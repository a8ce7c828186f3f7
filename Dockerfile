# The image every Airflow service of docker-compose.yaml runs: the official
# Airflow image of the locked version plus the project's locked packages.
# Keep the tag in step with apache-airflow in requirements.lock (a test checks).
FROM apache/airflow:3.3.2-python3.11

# The lock pins apache-airflow to the image's own version, so pip only adds
# what the project needs; installing from the lock keeps builds reproducible.
COPY --chown=airflow:0 requirements.lock /opt/airflow/requirements.lock
RUN pip install --no-cache-dir -r /opt/airflow/requirements.lock

# The code is mounted by docker-compose.yaml during development; a deployment
# image bakes it in (docker build . then push).
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 include /opt/airflow/include
COPY --chown=airflow:0 simulator /opt/airflow/simulator
ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow \
    LMS_CONNECTORS_INCLUDE=/opt/airflow/include
