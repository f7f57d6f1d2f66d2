"""The layout of the task graph: columns by depth, restarts beside their originals, and
collapsing when a run has too many tasks to draw one node each."""

import re
import uuid

from pages.graph import MAX_GROUPS, MAX_NODES, build_graph, render_svg

PROCESS = uuid.uuid4()


def task(slug, depth=0, state="completed", worker_run=None, chunk=None, original=None):
    return {
        "id": uuid.uuid4(),
        "slug": slug,
        "depth": depth,
        "state": state,
        "chunk": chunk,
        "worker_run_id": worker_run,
        "original_task_id": original["id"] if original else None,
        "worker_slug": slug.split("_")[0] if worker_run else None,
    }


def test_tasks_are_drawn_one_column_per_depth_with_an_arrow_per_parent():
    write, other = task("write"), task("other")
    read = task("read", depth=1, state="failed")
    graph = build_graph(
        [write, other, read], [(read["id"], write["id"]), (read["id"], other["id"])]
    )
    assert not graph.collapsed and graph.hidden == 0
    position = {node.label: (node.x, node.y) for node in graph.nodes}
    assert position["write"][0] == position["other"][0] < position["read"][0]
    assert len(graph.edges) == 2
    svg = render_svg(graph, 0, PROCESS)
    assert svg.count("<a href=") == 3 and svg.count('class="edge"') == 2
    assert 'class="node state-failed" data-task="' in svg


def test_a_restart_is_drawn_right_after_its_original():
    first = task("a", state="failed")
    tasks = [first, task("b"), task("a_2", state="running", original=first), task("aa")]
    slugs = [node.label for node in build_graph(tasks, []).nodes]
    assert slugs == ["a", "a_2", "aa", "b"]


def test_beyond_max_nodes_the_chunks_of_a_worker_run_make_one_node():
    runs = [uuid.uuid4() for _ in range(30)]
    tasks = [
        task(f"w{index}_{chunk}", depth=index, worker_run=run, chunk=chunk,
             state="failed" if (index, chunk) == (3, 2) else "completed")
        for index, run in enumerate(runs)
        for chunk in range(1, 11)
    ]  # fmt: skip
    assert len(tasks) > MAX_NODES
    graph = build_graph(tasks, [])
    assert graph.collapsed and graph.hidden == 0
    assert len(graph.nodes) == 30
    node = graph.nodes[3]
    assert (node.label, node.state, node.detail) == ("w3 ×10", "failed", "9/10 done · 1 failed")
    # A click opens the task table filtered on its worker run; its bar shows 9 completed
    # tasks and 1 failed, as widths of its 164 pixels.
    svg = render_svg(graph, 0, PROCESS)
    link = f'<a href="/ui/process/{PROCESS}/?run=0&amp;worker_run={runs[3]}#tasks" '
    assert link + 'class="node state-failed group" data-group="run-3-' in svg
    node_svg = svg[svg.index(link) : svg.index("</a>", svg.index(link))]
    widths = dict(re.findall(r'class="bar-([a-z]+)" x="\d+" y="\d+" width="(\d+)"', node_svg))
    assert (widths["completed"], widths["failed"], widths["running"]) == ("148", "16", "0")


def test_a_group_is_named_after_its_worker_run_not_its_worker():
    first, second = uuid.uuid4(), uuid.uuid4()
    tasks = [
        task(f"layout{suffix}_{chunk}", worker_run=run, chunk=chunk)
        for run, suffix in ((first, ""), (second, "_2"))
        for chunk in range(1, 11)
    ]
    graph = build_graph(tasks, [], max_nodes=5)
    assert sorted(node.label for node in graph.nodes) == ["layout ×10", "layout_2 ×10"]


def test_beyond_max_groups_a_depth_makes_one_node_and_the_deepest_are_left_out():
    tasks = [task(f"t{index}", depth=index % 700) for index in range(1400)]
    graph = build_graph(tasks, [])
    assert len(graph.nodes) == MAX_GROUPS
    assert all(node.label == "2 tasks" for node in graph.nodes)
    assert graph.hidden == 2 * (700 - MAX_GROUPS)


def test_names_are_escaped_and_shortened():
    graph = build_graph([task('<script>alert("x")</script>' + "y" * 50)], [])
    svg = render_svg(graph, 0, PROCESS)
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/…" in svg


def test_the_worker_slug_of_a_collapsed_group_is_escaped():
    run = uuid.uuid4()
    tasks = [
        task(f'"><script>alert(1)</script>&</svg>_{index}', worker_run=run) for index in range(3)
    ]
    svg = render_svg(build_graph(tasks, [], max_nodes=1), 0, PROCESS)
    assert "<script>" not in svg and svg.count("</svg>") == 1
    assert (
        'data-slug="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;&lt;/svg&gt;_0 ×3"' in svg
    )


def test_nodes_of_a_column_sort_naturally():
    tasks = [task(f"chunk_{index}") for index in (10, 2, 1, 11, 3)]
    assert [node.label for node in build_graph(tasks, []).nodes] == [
        "chunk_1", "chunk_2", "chunk_3", "chunk_10", "chunk_11"
    ]  # fmt: skip
