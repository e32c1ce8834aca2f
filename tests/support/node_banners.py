"""aws-cdk-lib's Node support banners, silenced where this project runs jsii itself.

jsii runs aws-cdk-lib in a Node process that warns on stderr when its Node is end-of-life, about
to be, or newer than jsii was tested with; jsii's Python side relays each line as a bytes repr
(`b'!!  Node 20 is end-of-life and not supported anymore ...  !!\\n'`), a dozen lines per process
that imports aws_cdk, test workers and `cdk synth` included. The variables are jsii's own switches
(@jsii/check-node); the known-broken banner is left alone, since it names a Node that fails.
Which Node the CDK wants is in docs/deploying.md.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping

#: Takes the end-of-life majors to keep quiet about, comma-separated ("20" or "18,20").
END_OF_LIFE = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"
#: Any value silences these two.
DEPRECATED = "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"
UNTESTED = "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION"


def node_major(node: str) -> str | None:
    """The major version of the `node` command ("20" for v20.20.2); None when it does not run."""
    try:
        finished = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    version = re.fullmatch(r"v(\d+)\.\d+\.\d+\s*", finished.stdout)
    return version.group(1) if version else None


def banner_silencers(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to set, before aws_cdk is first imported, to silence the banners of the Node
    jsii will run (JSII_NODE, else `node` on PATH, as jsii picks it); what `environ` says is kept."""
    silencers = {DEPRECATED: environ.get(DEPRECATED) or "1", UNTESTED: environ.get(UNTESTED) or "1"}
    major = node_major(environ.get("JSII_NODE", "node"))
    if major is not None:
        listed = [version.strip() for version in environ.get(END_OF_LIFE, "").split(",") if version.strip()]
        silencers[END_OF_LIFE] = ",".join(dict.fromkeys([*listed, major]))
    return silencers
