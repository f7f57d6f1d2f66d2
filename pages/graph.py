"""The task graph of one run, laid out for an inline SVG: one column per depth, arrows from
parents to children, one colour per state.

A run of thousands of tasks would draw an unreadable and heavy picture: beyond
`MAX_NODES` tasks, the chunks of one worker run at one depth collapse into one node; beyond
`MAX_GROUPS` of those, every task of a depth makes one node; what still does not fit is
cut, and the page says so.
"""

import dataclasses
import re
from collections import defaultdict
from html import escape

from django.urls import reverse
from django.utils.safestring import mark_safe

from ponos.states import summarize

MAX_NODES = 200
MAX_GROUPS = 600
NODE_WIDTH = 180
NODE_HEIGHT = 40
GAP_X = 60
GAP_Y = 14
MARGIN = 10
# Characters that fit in a node at the sizes of the style sheet (13 px bold, 12 px).
LABEL_CHARS = 21
DETAIL_CHARS = 26
BAR_WIDTH = NODE_WIDTH - 16
# The order of the states in a group's bar: done first, then what went wrong, then waiting.
BAR_ORDER = [
    "completed",
    "failed",
    "error",
    "cancelled",
    "stopped",
    "stopping",
    "running",
    "pending",
    "unscheduled",
]
DONE = "completed"
FAILED_STATES = ("failed", "error")


def natural(text):
    """A sort key reading digits as numbers: `layout_2` before `layout_10`."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def run_name(task):
    """The name of a task's worker run, as the builder spells its slugs: the slug without
    its chunk suffix (`layout_2_9` of chunk 9 is `layout_2`)."""
    slug, chunk = task["slug"], task.get("chunk")
    if chunk and slug.endswith(f"_{chunk}"):
        return slug[: -len(f"_{chunk}")]
    return slug


def node_id(key):
    """The key of a grouped node as the page's script and the states endpoint name it."""
    if isinstance(key, tuple):
        return "-".join(str(part) for part in key)
    return str(key)


@dataclasses.dataclass
class Node:
    key: object
    depth: int
    tasks: list
    x: int = 0
    y: int = 0

    @property
    def single(self):
        return len(self.tasks) == 1

    @property
    def task(self):
        return self.tasks[0]

    @property
    def state(self):
        if self.single:
            return self.task["state"]
        return summarize([task["state"] for task in self.tasks])

    @property
    def label(self):
        if self.single:
            return self.task["slug"]
        if isinstance(self.key, tuple) and self.key[0] == "run":
            return f"{run_name(self.task)} ×{len(self.tasks)}"
        return f"{len(self.tasks)} tasks"

    @property
    def counts(self):
        counts = defaultdict(int)
        for task in self.tasks:
            counts[task["state"]] += 1
        return counts

    @property
    def worker_run_id(self):
        if isinstance(self.key, tuple) and self.key[0] == "run":
            return self.key[2]
        return None

    @property
    def detail(self):
        """The second line of the node: the chunk of a task, the states of a group."""
        if self.single:
            parts = [self.task["state"]]
            if self.task["chunk"]:
                parts.append(f"chunk {self.task['chunk']}")
            if self.task["original_task_id"]:
                parts.append("restart")
            return " · ".join(parts)
        return group_detail(self.counts, len(self.tasks))

    @property
    def link(self):
        """The task a click opens: the task itself, or the group's task most worth a look."""
        order = {"failed": 0, "error": 1, "cancelled": 2, "running": 3, "stopping": 4}
        return min(self.tasks, key=lambda task: order.get(task["state"], 9))["id"]


def group_detail(counts, total):
    """'7/10 done · 2 failed': the progress of a group, short enough for its node."""
    parts = [f"{counts.get(DONE, 0):,}/{total:,} done"]
    failed = sum(counts.get(state, 0) for state in FAILED_STATES)
    if failed:
        parts.append(f"{failed:,} failed")
    running = counts.get("running", 0)
    if running:
        parts.append(f"{running:,} running")
    return " · ".join(parts)


def bar_segments(counts, total, width=BAR_WIDTH):
    """(state, x offset, width) of each state of a group's bar, in BAR_ORDER."""
    segments, seen, x = [], 0, 0
    for state in BAR_ORDER:
        seen += counts.get(state, 0)
        # Cumulative rounding: the segments always add up to the whole width.
        end = round(width * seen / total) if total else 0
        segments.append((state, x, end - x))
        x = end
    return segments


@dataclasses.dataclass
class Graph:
    nodes: list
    edges: list
    width: int
    height: int
    collapsed: bool
    hidden: int


def group_key(task, level):
    if level == 0:
        return task["id"]
    if level == 1 and task["worker_run_id"] is not None:
        return ("run", task["depth"], task["worker_run_id"])
    return ("depth", task["depth"])


def build_graph(tasks, edges, max_nodes=MAX_NODES, max_groups=MAX_GROUPS):
    """The graph of `tasks` (rows with id, slug, depth, state, chunk, worker_run_id,
    original_task_id) and `edges` ((child id, parent id) pairs)."""
    level, groups = 0, {}
    for level in range(3):
        groups = defaultdict(list)
        for task in tasks:
            groups[group_key(task, level)].append(task)
        if len(groups) <= (max_nodes if level == 0 else max_groups):
            break
    nodes = [Node(key, members[0]["depth"], members) for key, members in groups.items()]
    nodes.sort(key=lambda node: node.depth)
    hidden = sum(len(node.tasks) for node in nodes[max_groups:])
    nodes = nodes[:max_groups]
    node_of = {task["id"]: node for node in nodes for task in node.tasks}
    task_by_id = {task["id"]: task for task in tasks}

    parents = defaultdict(set)
    links = set()
    for child, parent in edges:
        if child in node_of and parent in node_of and node_of[child] is not node_of[parent]:
            parents[id(node_of[child])].add(id(node_of[parent]))
            links.add((id(node_of[parent]), id(node_of[child])))

    columns = defaultdict(list)
    for node in nodes:
        columns[node.depth].append(node)
    row_of = {}
    for column, depth in enumerate(sorted(columns)):
        members = columns[depth]

        def position(node):
            # Beside its parents (the mean of their rows), then by name; a restart comes
            # right after its original, which has the same parents.
            rows = [row_of[pk] for pk in parents[id(node)] if pk in row_of]
            mean = sum(rows) / len(rows) if rows else 0
            first = node.task
            return (mean, natural(restart_root(first, task_by_id)), natural(first["slug"]))

        members.sort(key=position)
        for row, node in enumerate(members):
            row_of[id(node)] = row
            node.x = MARGIN + column * (NODE_WIDTH + GAP_X)
            node.y = MARGIN + row * (NODE_HEIGHT + GAP_Y)

    # Column by column, top to bottom: the order of the drawing and of the page's text.
    nodes.sort(key=lambda node: (node.x, node.y))
    by_id = {id(node): node for node in nodes}
    drawn = []
    for parent, child in sorted(links, key=lambda pair: (by_id[pair[0]].y, by_id[pair[1]].y)):
        start, end = by_id[parent], by_id[child]
        x1, y1 = start.x + NODE_WIDTH, start.y + NODE_HEIGHT // 2
        x2, y2 = end.x - 6, end.y + NODE_HEIGHT // 2
        middle = (x1 + x2) // 2
        drawn.append(f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}")
    width = MARGIN * 2 + max(1, len(columns)) * (NODE_WIDTH + GAP_X) - GAP_X
    rows = max((len(members) for members in columns.values()), default=1)
    height = MARGIN * 2 + rows * (NODE_HEIGHT + GAP_Y) - GAP_Y
    return Graph(nodes, drawn, width, height, collapsed=level > 0, hidden=hidden)


def restart_root(task, task_by_id):
    """The slug of the first attempt of a restarted task, so that attempts sort together."""
    for _attempt in range(100):
        original = task_by_id.get(task["original_task_id"])
        if original is None:
            break
        task = original
    return task["slug"]


def shorten(value, length):
    return value if len(value) <= length else value[: length - 1] + "…"


def render_svg(graph, run, process_id):
    """The graph as inline SVG markup. Written here rather than in a template: a run of
    thousands of tasks draws hundreds of nodes, which the template engine took a second
    to render.

    A task's node links to its page; a group's node to the task table of the process page,
    filtered on its worker run (or its depth), and shows a bar of its tasks' states."""
    link = reverse("pages:task", args=["TASK"])
    table = reverse("pages:process", args=[process_id]) + f"?run={run}"
    width, height = graph.width, graph.height
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Task graph of run {run}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'class="arrow-head"/></marker></defs>',
    ]
    parts.extend(
        f'<path class="edge" d="{edge}" marker-end="url(#arrow)"/>' for edge in graph.edges
    )
    for node in graph.nodes:
        label, detail = node.label, node.detail
        classes = f"node state-{node.state}" + ("" if node.single else " group")
        if node.single:
            href = link.replace("TASK", str(node.task["id"]))
            data = f' data-task="{node.task["id"]}"'
        else:
            if node.worker_run_id is not None:
                href = f"{table}&amp;worker_run={node.worker_run_id}#tasks"
            else:
                href = f"{table}&amp;depth={node.depth}#tasks"
            data = f' data-group="{node_id(node.key)}" data-total="{len(node.tasks)}"'
        parts.append(
            f'<a href="{href}" class="{classes}"{data} '
            f'data-slug="{escape(label)}"><title>{escape(label)}: {escape(detail)}</title>'
            f'<rect x="{node.x}" y="{node.y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" '
            f'rx="6"/><text x="{node.x + 8}" y="{node.y + 15}" class="slug">'
            f"{escape(shorten(label, LABEL_CHARS))}</text>"
            f'<text x="{node.x + 8}" y="{node.y + (28 if not node.single else 31)}" '
            f'class="detail" data-detail>{escape(shorten(detail, DETAIL_CHARS))}</text>'
        )
        if not node.single:
            parts.append(f'<g class="bar" data-bar data-x="{node.x + 8}">')
            parts.extend(
                f'<rect class="bar-{state}" x="{node.x + 8 + offset}" '
                f'y="{node.y + NODE_HEIGHT - 8}" width="{size}" height="4"/>'
                for state, offset, size in bar_segments(node.counts, len(node.tasks))
            )
            parts.append("</g>")
        parts.append("</a>")
    parts.append("</svg>")
    # Every value above is a number, an id, a state name or escaped text.
    return mark_safe("\n".join(parts))  # noqa: S308
