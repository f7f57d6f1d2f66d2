"""Shipping a task's log to the server, in pieces (SPEC §11).

Whatever runs the task (a local process, a container) writes its output to the log file the
runner gives it; the shipper reads that file and sends only the bytes written since its last
piece: `CreateLogPiece` signs a URL for exactly those bytes, then they are PUT to it. Nothing
is sent when nothing was written, so the bytes sent stay the log's size whatever the task's
duration.

Cadence: every `log_upload_interval` seconds (30 by default), or every
`log_watched_interval` seconds (3 by default) while the server says that someone reads the
task (the `watched` key of each poll's answer). The task's end sends whatever is left before
the final report.

Size bound: the server gives its PONOS_LOG_MAX_SIZE in each answer. While the task runs, the
shipper sends at most half of it (the head); at the end, a log still within the bound is sent
whole, and a longer one ends with a line saying how many bytes were cut, then its last bytes
(the tail), so that a person reading a failed task sees how it ended. The bytes sent then stay
within the bound, plus that line.
"""

import contextlib
import logging
import os
import time

from ponos.agent.api import ApiError, Cancelled, Refused

logger = logging.getLogger(__name__)

# Until the server tells its PONOS_LOG_MAX_SIZE (in its first answer)
DEFAULT_MAX_SIZE = 64 * 1024 * 1024
# The largest first piece: half the smallest PONOS_LOG_MAX_SIZE a server accepts, so that the
# first piece, which tells the agent the server's bound, is never beyond it
FIRST_PIECE = 32 * 1024
# Attempts at the final pieces, each with a freshly signed URL
FINAL_ATTEMPTS = 3
CUT_LINE = (
    "\n[ponos-agent] {cut} bytes of this log were cut here: a log keeps at most {limit} "
    "bytes (PONOS_LOG_MAX_SIZE), its head and its tail\n"
)


class LogShipper:
    """Sends the new bytes of one task's log file; used by the runner's thread only, except
    `watched`, which the agent's poll sets."""

    def __init__(self, task_id, path, client, config):
        self.task_id = task_id
        self.path = path
        self.client = client
        self.config = config
        self.max_size = DEFAULT_MAX_SIZE
        self.max_known = False
        self.watched = False
        # Bytes of the log the server holds (the shipped log: the file's head, then the tail)
        self.sent = 0
        self.last_attempt = -float("inf")
        # Once the final pieces are sent, or the server refused a piece: nothing more to send
        self.closed = False
        # What was sent, for the agent's own log and the benchmarks
        self.pieces = 0
        self.bytes_sent = 0

    @property
    def interval(self):
        if self.watched:
            return self.config.log_watched_interval
        return self.config.log_upload_interval

    @property
    def head_limit(self):
        """The most bytes sent while the task runs: the head of a log that may grow beyond
        the bound."""
        return self.max_size // 2

    def size(self):
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def tick(self, now=None):
        """Send the new bytes if an interval has passed since the last attempt."""
        now = time.monotonic() if now is None else now
        if self.closed or now - self.last_attempt < self.interval:
            return
        self.last_attempt = now
        try:
            size = self.size()
            self.learn_bound(size, attempts=1)
            self.send_head(size, attempts=1)
        except Cancelled:
            raise
        except ApiError as e:
            # The next interval tries again, from the same offset
            logger.warning("Could not send the log of task %s: %s", self.task_id, e)

    def finish(self):
        """Send everything left before the task's final report (head, cut line and tail when
        the log went beyond the bound)."""
        if self.closed:
            return
        for attempt in range(1, FINAL_ATTEMPTS + 1):
            try:
                self.send_rest(self.size())
                break
            except Cancelled:
                raise
            except ApiError as e:
                logger.warning(
                    "Could not send the end of the log of task %s (attempt %d): %s",
                    self.task_id,
                    attempt,
                    e,
                )
        self.closed = True

    def learn_bound(self, size, attempts=None):
        """Until the server told its bound, a first piece small enough for any bound."""
        if not self.max_known and size > self.sent:
            self.send(self.sent, min(size, FIRST_PIECE) - self.sent, attempts=attempts)

    def send_head(self, size, attempts=None):
        end = min(size, max(self.head_limit, self.sent))
        if end > self.sent:
            self.send(self.sent, end - self.sent, attempts=attempts)

    def send_rest(self, size):
        self.learn_bound(size)
        if size <= self.max_size:
            if size > self.sent:
                self.send(self.sent, size - self.sent)
            return
        # Beyond the bound: the head, then the cut line and the tail, within the bound
        self.send_head(size)
        tail = max(self.max_size - self.sent, 0)
        line = CUT_LINE.format(cut=size - self.sent - tail, limit=self.max_size).encode()
        self.send(size - tail, tail, prefix=line)

    def send(self, start, length, prefix=b"", attempts=None):
        """One piece: `prefix` then `length` bytes of the file from `start`, at the end of
        what the server holds."""
        try:
            answer = self.client.create_log_piece(
                self.task_id, self.sent, len(prefix) + length, attempts=attempts
            )
        except Refused as e:
            # Finished, or beyond the bound: no later piece would be taken either
            logger.warning("The server refused the log of task %s: %s", self.task_id, e)
            self.closed = True
            raise
        with contextlib.suppress(TypeError, ValueError):
            self.max_size = int(answer.get("log_max_size") or self.max_size)
        self.max_known = True
        self.client.upload_piece(
            answer["s3_put_url"], self.path, start, length, prefix, retry=attempts is None
        )
        self.sent += len(prefix) + length
        self.pieces += 1
        self.bytes_sent += len(prefix) + length
