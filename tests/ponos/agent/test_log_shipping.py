"""The agent sends its tasks' logs in pieces: only new bytes, rarely unless someone watches,
and the head and the tail of a log beyond the server's bound."""

import re
import time

from ponos.agent.logs import CUT_LINE

SLACK = 64 * 1024


def piece_sizes(fake_api, task):
    return [size for task_id, _offset, size in fake_api.log_pieces if task_id == task.id]


def test_only_new_bytes_are_sent_and_nothing_when_nothing_was_written(
    fake_api, start_agent, tmp_path
):
    task = fake_api.add_task(
        'echo one; sleep 0.3; echo two; while [ ! -e "$OUT/go" ]; do sleep 0.05; done',
        env={"OUT": str(tmp_path)},
    )
    start_agent()
    fake_api.wait_for(lambda: "two\n" in fake_api.log_of(task), message="the second line")
    pieces = len(piece_sizes(fake_api, task))
    # Ten intervals of 0.1 s with nothing written: nothing sent
    time.sleep(1)
    assert len(piece_sizes(fake_api, task)) == pieces
    (tmp_path / "go").touch()
    fake_api.wait_for_state(task, "completed")

    log = fake_api.log_of(task)
    # The pieces follow each other (log_of checks it) and add up to the log, once
    assert sum(piece_sizes(fake_api, task)) == len(log.encode())
    assert log.startswith("[ponos-agent] image: alpine:3\n")
    assert "one\ntwo\n" in log


def test_a_watched_task_sends_its_log_often_and_an_unwatched_one_rarely(
    fake_api, start_agent, tmp_path
):
    task = fake_api.add_task(
        'while [ ! -e "$OUT/go" ]; do echo tick; sleep 0.02; done', env={"OUT": str(tmp_path)}
    )
    start_agent(log_upload_interval=30, log_watched_interval=0.1)
    fake_api.wait_for(lambda: task.state == "running" and piece_sizes(fake_api, task))
    # Unwatched: the first piece went at once, the next one would wait 30 s
    before = len(piece_sizes(fake_api, task))
    time.sleep(1)
    unwatched = len(piece_sizes(fake_api, task)) - before

    fake_api.watched.add(task.id)
    fake_api.wait_for(lambda: len(piece_sizes(fake_api, task)) > before, message="a piece")
    before = len(piece_sizes(fake_api, task))
    time.sleep(1)
    watched = len(piece_sizes(fake_api, task)) - before

    # Nobody watches any more: back to the slow pace
    fake_api.watched.clear()
    time.sleep(0.3)
    before = len(piece_sizes(fake_api, task))
    time.sleep(1)
    unwatched_again = len(piece_sizes(fake_api, task)) - before
    (tmp_path / "go").touch()
    fake_api.wait_for_state(task, "completed")

    assert unwatched == 0
    assert watched >= 5
    assert unwatched_again == 0
    log = fake_api.log_of(task)
    assert sum(piece_sizes(fake_api, task)) == len(log.encode())


def test_a_log_beyond_the_bound_keeps_its_head_and_its_tail(fake_api, start_agent):
    fake_api.log_max_size = 64 * 1024
    # About 1 MB of numbered lines: 16 times the bound
    task = fake_api.add_task(
        "i=0; while [ $i -lt 60000 ]; do echo line $i; i=$((i+1)); done; echo the end",
    )
    start_agent()
    fake_api.wait_for_state(task, "completed", timeout=60)

    log = fake_api.log_of(task)
    size = len(log.encode())
    assert size <= fake_api.log_max_size + SLACK
    assert sum(piece_sizes(fake_api, task)) == size
    # The head, a line saying what was cut, and the end
    assert log.startswith("[ponos-agent] image: alpine:3\n")
    assert "line 0\nline 1\n" in log
    assert log.endswith("the end\n[ponos-agent] exit code 0\n")
    match = re.search(r"\n\[ponos-agent\] (\d+) bytes of this log were cut here", log)
    assert match
    cut_bytes = int(match[1])
    line = CUT_LINE.format(cut=cut_bytes, limit=fake_api.log_max_size)
    head, _line, tail = log.partition(line)
    assert tail.endswith("the end\n[ponos-agent] exit code 0\n")
    # What was cut plus what was kept is the whole output
    whole = 60000 * len("line ") + sum(len(str(i)) + 1 for i in range(60000))
    assert cut_bytes + len(head.encode()) + len(tail.encode()) > whole
    # The head is half the bound, the tail the rest of it
    assert len(head.encode()) == fake_api.log_max_size // 2
    assert len(head.encode()) + len(tail.encode()) == fake_api.log_max_size


def test_the_server_refusing_pieces_stops_the_sending_not_the_task(fake_api, start_agent, tmp_path):
    fake_api.refuse_log_pieces = True
    task = fake_api.add_task(
        'while [ ! -e "$OUT/go" ]; do echo tick; sleep 0.02; done', env={"OUT": str(tmp_path)}
    )
    start_agent()
    fake_api.wait_for(lambda: fake_api.refused_log_pieces, message="a refused piece")
    time.sleep(0.5)
    (tmp_path / "go").touch()
    fake_api.wait_for_state(task, "completed")

    # Asked once: no later piece would be taken either
    assert fake_api.refused_log_pieces == 1
    assert task.reports == ["running", "completed"]
