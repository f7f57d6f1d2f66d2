"""The floor of cleanup, run as a command of its own like `manage.py cleanup`: read the keys
of the given processes' tasks, delete them with boto3's `delete_objects` in batches of
1,000, then delete the rows with one SQL statement. No Django.

python -m bench.cleanup_floor <spec.json>
"""

import json
import sys

import boto3
import psycopg2
from botocore.config import Config

BATCH = 1000


def main(path):
    with open(path) as file:
        spec = json.load(file)
    tables = spec["tables"]
    connection = psycopg2.connect(spec["dsn"])
    cursor = connection.cursor()
    cursor.execute(
        f"SELECT t.id::text, a.path FROM {tables['task']} t"
        f" LEFT JOIN {tables['artifact']} a ON a.task_id = t.id"
        " WHERE t.process_id = ANY(%s::uuid[])",
        (spec["processes"],),
    )
    artifacts, logs = [], set()
    for task_id, artifact_path in cursor:
        logs.add(f"{task_id}.log")
        if artifact_path is not None:
            artifacts.append(f"{task_id}/{artifact_path}")
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=spec["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    deleted = 0
    for bucket, keys in (
        (spec["artifacts_bucket"], artifacts),
        (spec["logs_bucket"], sorted(logs)),
    ):
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            answer = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            deleted += len(batch) - len(answer.get("Errors", []))
    cursor.execute(
        f"WITH doomed AS (SELECT id FROM {tables['task']} WHERE process_id = ANY(%(p)s::uuid[])),"
        f" a AS (DELETE FROM {tables['artifact']} WHERE task_id IN (SELECT id FROM doomed)),"
        f" e AS (DELETE FROM {tables['parents']} WHERE {tables['child']} IN (SELECT id FROM doomed)"
        f" OR {tables['parent']} IN (SELECT id FROM doomed))"
        f" DELETE FROM {tables['task']} WHERE id IN (SELECT id FROM doomed)",
        {"p": spec["processes"]},
    )
    rows = cursor.rowcount
    connection.commit()
    print(json.dumps({"deleted_objects": deleted, "deleted_tasks": rows}))


if __name__ == "__main__":
    main(sys.argv[1])
