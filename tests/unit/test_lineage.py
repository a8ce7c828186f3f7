"""What a sync task reports to OpenLineage: the provider's API resources in, warehouse tables out."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from lms_connectors import providers
from lms_connectors.orchestration import lineage


def asset(uri: str, extra: dict | None = None) -> SimpleNamespace:
    lineage.normalize(urlsplit(uri))
    return SimpleNamespace(uri=uri, extra=extra or {})


def test_an_api_resource_is_named_by_its_host_and_path_with_the_apis_scheme():
    uri, scheme = lineage.api_uri("https://api.openclassrooms.com/", "/organizations/o1/courses")
    dataset = lineage.to_openlineage(asset(uri, {"api_scheme": scheme}))
    assert (dataset.namespace, dataset.name) == ("https://api.openclassrooms.com", "/organizations/o1/courses")
    uri, scheme = lineage.api_uri("http://127.0.0.1:8081/base", "/courses")
    dataset = lineage.to_openlineage(asset(uri, {"api_scheme": scheme}))
    assert (dataset.namespace, dataset.name) == ("http://127.0.0.1:8081", "/base/courses")


def test_a_table_is_named_as_postgres_names_it_with_the_rows_written():
    uri = lineage.table_uri("db.example.com", None, "lms_warehouse", "stats.course_progress")
    dataset = lineage.to_openlineage(asset(uri, {"rows": 1234}))
    assert (dataset.namespace, dataset.name) == (
        "postgres://db.example.com:5432",
        "lms_warehouse.stats.course_progress",
    )
    assert dataset.outputFacets["outputStatistics"].rowCount == 1234
    read = lineage.to_openlineage(asset(uri))
    assert not getattr(read, "outputFacets", None)


def test_a_socket_directory_as_host_stays_one_uri_component():
    uri = lineage.table_uri("/run/postgresql", 5433, "w", "lms.courses")
    assert urlsplit(uri).path == "/w/lms/courses"
    assert lineage.to_openlineage(asset(uri)).namespace == "postgres://%2Frun%2Fpostgresql:5433"


@pytest.mark.parametrize("uri", ["lms-warehouse://h:5432/w/lms", "lms-api:///courses"])
def test_an_incomplete_uri_is_refused(uri):
    with pytest.raises(ValueError, match="needs"):
        lineage.normalize(urlsplit(uri))


def test_every_task_lineage_names_counts_its_task_reports():
    assert set(lineage.TASK_LINEAGE) == {"sync_catalogue", "extract_progress", "sync_statistics"}
    for reads, writes in lineage.TASK_LINEAGE.values():
        assert reads and writes
        assert all("." in table for table in writes)


@pytest.mark.parametrize("name", providers.names())
def test_every_provider_names_the_api_resources_a_run_reads(name):
    paths = providers.get(name).lineage_paths
    assert set(paths) == {lineage.CATALOGUE_API, lineage.ACTIVITY_API}
    assert all(path.startswith("/") for path in paths.values())
