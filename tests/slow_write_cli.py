"""``python tests/slow_write_cli.py ARGS...``: the infogan CLI with every atomic write slowed down.

For tests only. Each ``checkpoint.atomic_write`` (checkpoints and their .sha256, config.toml, the
truncated metrics.jsonl) whose file name matches the regex ``INFOGAN_TEST_SLOW_NAMES`` (default:
all) first puts half of its bytes into the temp file the real write uses, then sleeps
``INFOGAN_TEST_WRITE_DELAY`` seconds (default 0.5), then does the real write. A test that sees the
temp file appear can SIGKILL the process inside the write.
"""

import os
import re
import sys
import time
from pathlib import Path

from infogan import checkpoint
from infogan.cli import main

_real_write = checkpoint.atomic_write
_DELAY = float(os.environ.get("INFOGAN_TEST_WRITE_DELAY", "0.5"))
_NAMES = re.compile(os.environ.get("INFOGAN_TEST_SLOW_NAMES", ""))


def _slow_atomic_write(path, data: bytes) -> None:
    path = Path(path)
    if not _NAMES.search(path.name):
        return _real_write(path, data)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")  # the name atomic_write uses
    with open(tmp, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
    time.sleep(_DELAY)
    _real_write(path, data)


checkpoint.atomic_write = _slow_atomic_write

if __name__ == "__main__":
    sys.exit(main())
