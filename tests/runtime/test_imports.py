"""Cold starts stay small: building an Adapter loads no AWS SDK and no other store's driver."""

from __future__ import annotations

import subprocess
import sys


def test_adapter_construction_imports_no_driver() -> None:
    script = (
        "import sys\n"
        "from asgiway import Adapter\n"
        "Adapter(lambda s, r, w: None, dsn='sqlite:///tmp/asgiway-import-check.db', lifespan='off')\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'psycopg2', 'redis') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
