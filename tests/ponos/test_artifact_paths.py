"""Paths and types CreateArtifact refuses up front, rather than a 500 at upload on the local
backend leaving an artifact without its object: segments longer than a file name, a path
that is a file and a directory at once, control characters in the content type."""

import pytest

from ponos.models import Artifact
from tests.arkindex.assertions import assert_error
from tests.conftest import task_client
from tests.ponos.storage.fixtures import use_local_storage

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["local", "s3"])
def backend(request, settings, tmp_path):
    if request.param == "local":
        return use_local_storage(settings, tmp_path / "storage", "http://testserver")
    return request.getfixturevalue("s3")


def declare(client, task, path, size=2, content_type="application/json"):
    body = {"path": path, "size": size, "content_type": content_type}
    return client.post(f"/api/v1/task/{task.id}/artifacts/", body)


def declare_and_upload(client, task, path, data=b"{}"):
    response = declare(client, task, path, size=len(data))
    assert response.status_code == 201, response.content
    url = response.json()["s3_put_url"]
    if url.startswith("http://testserver/"):
        upload = client.generic("PUT", url, data, content_type="application/json")
        assert upload.status_code == 200, upload.content


@pytest.mark.parametrize(
    "path",
    ["x" * 256, "dir/" + "é" * 128 + "/file.txt", "a/" + "\U0001f600" * 64],
)
def test_a_segment_over_255_bytes_is_refused(backend, running_task, path):
    response = declare(task_client(running_task), running_task, path)

    errors = assert_error(response, 400, attr=["path"])
    assert "255 bytes" in errors[0]["detail"]
    assert not Artifact.objects.exists()


def test_a_segment_of_255_bytes_is_stored(backend, running_task):
    client = task_client(running_task)
    declare_and_upload(client, running_task, "d/" + "é" * 127 + "x")
    assert Artifact.objects.count() == 1


@pytest.mark.parametrize(
    "first, second",
    [("d1", "d1/x.txt"), ("d1/x.txt", "d1"), ("a/b", "a/b/c/d"), ("a/b/c/d", "a/b")],
)
def test_a_path_cannot_be_a_file_and_a_directory(backend, running_task, first, second):
    client = task_client(running_task)
    declare_and_upload(client, running_task, first)

    response = declare(client, running_task, second)

    errors = assert_error(response, 400, attr=["path"])
    assert first in errors[0]["detail"]
    assert list(Artifact.objects.values_list("path", flat=True)) == [first]


def test_siblings_sharing_a_name_prefix_do_not_conflict(backend, running_task):
    client = task_client(running_task)
    for path in ["d1", "d10/x.txt", "d1.txt", "d2/d1"]:
        declare_and_upload(client, running_task, path)
    # Declaring a path again is still an update of the same artifact
    assert declare(client, running_task, "d1", size=3).status_code == 200
    assert Artifact.objects.count() == 4


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain\r\nX-Injected: 1",
        "text/plain\n",
        "text/html\rSet-Cookie: a=b",
        "text/plain; charset=utf-8\x00",
        "not a type",
        "text/",
        "",
    ],
)
def test_a_content_type_with_control_characters_or_no_mime_shape_is_refused(
    backend, running_task, content_type
):
    response = declare(task_client(running_task), running_task, "a.txt", content_type=content_type)

    assert_error(response, 400, attr=["content_type"])
    assert not Artifact.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain; charset=utf-8", "application/vnd.ms-excel", 'text/plain; charset="utf-8"'],
)
def test_ordinary_content_types_are_accepted(backend, running_task, content_type):
    response = declare(task_client(running_task), running_task, "a.txt", content_type=content_type)
    assert response.status_code == 201, response.content
    assert Artifact.objects.get().content_type == content_type
