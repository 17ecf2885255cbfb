"""The mitmproxy addon, importable on its own (it imports mitmproxy; the package does not)."""

from apiharness.recording._addon import RecordVCR, interaction_from_flow

__all__ = ["RecordVCR", "interaction_from_flow"]
