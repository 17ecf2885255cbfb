"""The script :class:`apiharness.recording.Recorder` passes to ``mitmdump -s``."""

from apiharness.recording.addon import RecordVCR

addons = [RecordVCR()]
