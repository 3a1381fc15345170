"""A local Kubernetes API + controllers + traffic model for trying and testing rollout.

It is a server: nothing else in `rollout` imports it except the CLI's sandbox/demo
commands, and it never imports the rest of `rollout`.
"""

from rollout.sandbox.config import ConfigError, SandboxConfig
from rollout.sandbox.sandbox import CONTEXT, Sandbox

__all__ = ["CONTEXT", "ConfigError", "Sandbox", "SandboxConfig"]
